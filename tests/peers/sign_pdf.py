"""Signs a PDF with pyHanko or endesive for the interop tests (tests/pdf_verify_peers.rs).

pyHanko modes: bb, bt, blt, blta (PAdES baseline levels), certify1/certify2/certify3 (a
certification signature with DocMDP P=1/2/3). endesive mode: endesive (adbe.pkcs7.detached).
"""
import argparse
import datetime
import os
import sys
import types

p = argparse.ArgumentParser()
p.add_argument("--mode", required=True)
p.add_argument("--input", required=True)
p.add_argument("--output", required=True)
p.add_argument("--key", required=True)
p.add_argument("--cert", required=True)
p.add_argument("--chain", action="append", default=[])
p.add_argument("--root", action="append", default=[])
p.add_argument("--tsa")
p.add_argument("--field", default="Signature1")
a = p.parse_args()

if a.mode == "endesive":
    # endesive.pdf's __init__ imports a verifier that needs oscrypto, which cannot detect
    # Debian 12's OpenSSL 3.0.x version string; the signing module alone does not need it.
    import endesive

    pkg = types.ModuleType("endesive.pdf")
    pkg.__path__ = [os.path.join(os.path.dirname(endesive.__file__), "pdf")]
    sys.modules["endesive.pdf"] = pkg
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from endesive.pdf import cms
    from pypdf import generic as _po

    # endesive 3.0.1 passes an encryption key argument that pypdf 6+ no longer takes.
    _write = _po.DictionaryObject.write_to_stream
    _po.DictionaryObject.write_to_stream = lambda self, stream, *_: _write(self, stream)

    key = load_pem_private_key(open(a.key, "rb").read(), None)
    cert = x509.load_pem_x509_certificate(open(a.cert, "rb").read())
    others = [x509.load_pem_x509_certificate(open(c, "rb").read()) for c in a.chain]
    date = datetime.datetime.now(datetime.timezone.utc).strftime("D:%Y%m%d%H%M%S+00'00'")
    udct = {
        "aligned": 0,
        "sigflags": 3,
        "sigpage": 0,
        "auto_sigfield": True,
        "signaturebox": (0, 0, 0, 0),
        "contact": "van-thu@example.vn",
        "location": "Ha Noi",
        "signingdate": date,
        "reason": "Phe duyet",
        "signature": "Phe duyet",
    }
    data = open(a.input, "rb").read()
    signed = cms.sign(data, udct, key, cert, others, "sha256")
    with open(a.output, "wb") as f:
        f.write(data + signed)
    sys.exit(0)

from pyhanko.keys import load_certs_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers, timestamps
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko_certvalidator import ValidationContext

signer = signers.SimpleSigner.load(a.key, a.cert, ca_chain_files=a.chain)
roots = list(load_certs_from_pemder(a.root))
others = list(load_certs_from_pemder(a.chain))
lt = a.mode in ("blt", "blta")
vc = ValidationContext(trust_roots=roots, other_certs=others, allow_fetching=True) if lt else None
perms = {"certify1": MDPPerm.NO_CHANGES, "certify2": MDPPerm.FILL_FORMS, "certify3": MDPPerm.ANNOTATE}
meta = signers.PdfSignatureMetadata(
    field_name=a.field,
    subfilter=SigSeedSubFilter.PADES,
    embed_validation_info=lt,
    use_pades_lta=a.mode == "blta",
    validation_context=vc,
    certify=a.mode in perms,
    docmdp_permissions=perms.get(a.mode, MDPPerm.FILL_FORMS),
)
ts = timestamps.HTTPTimeStamper(a.tsa) if a.tsa and a.mode in ("bt", "blt", "blta") else None
with open(a.input, "rb") as f:
    w = IncrementalPdfFileWriter(f)
    with open(a.output, "wb") as out:
        signers.sign_pdf(w, meta, signer=signer, timestamper=ts, output=out)
