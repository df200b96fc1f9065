//! Lenient PEM (RFC 7468 with the tolerance real files need: CRLF, any line length, headers and
//! text around the blocks).

/// Lenient PEM splitter: `(label, der)` for each block. Tolerates CRLF,
/// any line length and text around the blocks.
pub fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = after[..label_end].trim().to_owned();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_start.find(&end_marker) else {
            break;
        };
        let b64: String = body_start[..end]
            .lines()
            .filter(|l| !l.contains(':'))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) {
            out.push((label, der));
        }
        rest = &body_start[end + end_marker.len()..];
    }
    out
}
