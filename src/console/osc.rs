//! Operating-system commands the console sends besides its frames: OSC 52 puts text on
//! the clipboard of the operator's own terminal, which works over SSH, and inside tmux
//! when tmux lets applications set the clipboard (`set -g set-clipboard on`).

use base64::Engine;

/// The most the console copies at once: terminals refuse or cut longer OSC 52 payloads
/// (xterm's default limit is about 100 KB of base64).
pub const COPY_MAX: usize = 64 * 1024;

/// The text as copied: printable (line breaks and tabs kept) and at most [`COPY_MAX`]
/// bytes, cut at a character boundary.
pub fn copyable(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    if clean.len() <= COPY_MAX {
        return clean;
    }
    let mut end = COPY_MAX;
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean[..end].to_string()
}

/// OSC 52: set the clipboard (`c`) to `text`.
pub fn copy(text: &str) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("\x1b]52;c;{b64}\x07").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_one_osc_52_sequence_of_base64() {
        let seq = copy("item 42\n");
        assert_eq!(seq, b"\x1b]52;c;aXRlbSA0Mgo=\x07");
    }

    #[test]
    fn copied_text_carries_no_escapes_and_has_a_limit() {
        assert_eq!(copyable("a\x1b[2Jb\nc\td"), "a [2Jb\nc\td");
        let long = "é".repeat(COPY_MAX);
        let cut = copyable(&long);
        assert!(cut.len() <= COPY_MAX && cut.chars().all(|c| c == 'é'));
    }
}
