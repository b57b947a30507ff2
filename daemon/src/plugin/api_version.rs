//! The contract a component was built against. The guest SDK's `register_plugin!` stamps the
//! `scribe:plugin` version into a custom section of the component's core module; the host
//! reads it before compiling and refuses a component it does not speak, with a message that
//! says what to rebuild, instead of a link error about a missing import.

/// Versions of the `scribe:plugin` WIT package this host links. A frozen version stays here
/// when a newer one is added beside it: 0.2.0 adds to `stt-batch` (a prompt, notes, `upload`;
/// see [`super::batch_world`]) and the diarizer world; 0.3.0 adds a task (translate) to
/// `stt-batch`.
pub const SPOKEN: &[&str] = &["0.1.0", "0.2.0", "0.3.0"];
/// The custom section the SDK writes (`scribe_plugin_api::API_VERSION_SECTION`).
pub const SECTION: &str = "scribe:plugin-api-version";
/// SHA-256 of `plugin-api/wit/0.1.0/*.wit`, concatenated in name order: 0.1.0 is released and
/// frozen. A change to the contract goes into a new version beside it (`wit/0.3.0/`), which
/// the host then links too.
#[cfg(test)]
const FROZEN_0_1_0: &str = "ca93d4238a32ab66e3526908fc2671ae0e5c60c450d8250a4415d4f36dcb85dd";
/// The same of `plugin-api/wit/0.2.0/`: released with 0.3.0 beside it.
#[cfg(test)]
const FROZEN_0_2_0: &str = "3b2fa2ee485518bb34fee6393732fc066b39fa1802ad687631c82428107045ae";
/// Longest stamp read; a version string is a few bytes.
const MAX_STAMP: usize = 64;

/// Why a component's version is not one this host speaks.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error(
        "the component carries no scribe:plugin API version (custom section {SECTION}); build it with \
         scribe-plugin-api and register it with register_plugin! (see plugin-api/README.md)"
    )]
    Missing,
    #[error(
        "the component was built against scribe:plugin@{0}, and this daemon speaks {spoken}; rebuild \
         it against a scribe-plugin-api of a version it speaks",
        spoken = SPOKEN.join(", ")
    )]
    Unsupported(String),
    #[error("the component is not valid WebAssembly: {0}")]
    Malformed(String),
}

/// The version `wasm` (a component, or a core module) was built against, if this host speaks
/// it. Function bodies are skipped unread: the check costs a walk over section headers,
/// not over the code.
pub fn check(wasm: &[u8]) -> Result<String, VersionError> {
    use wasmparser::{Chunk, Parser, Payload};
    let malformed = |err: wasmparser::BinaryReaderError| VersionError::Malformed(err.to_string());
    let truncated = || VersionError::Malformed("the component is truncated".into());
    let mut parents = Vec::new();
    let mut parser = Parser::new(0);
    let mut data = wasm;
    loop {
        let (payload, consumed) = match parser.parse(data, true).map_err(malformed)? {
            Chunk::Parsed { payload, consumed } => (payload, consumed),
            Chunk::NeedMoreData(_) => return Err(truncated()),
        };
        data = &data[consumed..];
        match payload {
            Payload::CustomSection(section) if section.name() == SECTION => {
                let stamp = section.data();
                let stamp = String::from_utf8_lossy(&stamp[..stamp.len().min(MAX_STAMP)]).into_owned();
                return match SPOKEN.contains(&stamp.as_str()) {
                    true => Ok(stamp),
                    false => Err(VersionError::Unsupported(stamp)),
                };
            }
            Payload::CodeSectionStart { size, .. } => {
                parser.skip_section();
                data = data.get(size as usize..).ok_or_else(truncated)?;
            }
            Payload::ModuleSection { parser: nested, .. } | Payload::ComponentSection { parser: nested, .. } => {
                parents.push(std::mem::replace(&mut parser, nested));
            }
            Payload::End(_) => match parents.pop() {
                Some(parent) => parser = parent,
                None => return Err(VersionError::Missing),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { byte } else { byte | 0x80 });
            if n == 0 {
                break;
            }
        }
    }

    fn section(id: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![id];
        leb(body.len(), &mut out);
        out.extend_from_slice(body);
        out
    }

    fn custom(name: &str, data: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        leb(name.len(), &mut body);
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(data);
        section(0, &body)
    }

    /// A component holding one core module with the given custom sections.
    fn component(sections: &[Vec<u8>]) -> Vec<u8> {
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        sections.iter().for_each(|s| module.extend_from_slice(s));
        let mut component = b"\0asm\x0d\0\x01\0".to_vec();
        component.extend(section(1, &module));
        component
    }

    #[test]
    fn released_wit_versions_are_frozen() {
        use sha2::{Digest, Sha256};
        for (version, files_in_it, frozen) in [("0.1.0", 4, FROZEN_0_1_0), ("0.2.0", 1, FROZEN_0_2_0)] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api/wit").join(version);
            let mut files: Vec<_> = std::fs::read_dir(&dir).expect("wit dir").flatten().map(|e| e.path()).collect();
            files.sort();
            let mut hash = Sha256::new();
            for file in &files {
                hash.update(std::fs::read(file).expect("wit file"));
            }
            assert_eq!(files.len(), files_in_it, "{files:?}");
            assert_eq!(hex::encode(hash.finalize()), frozen, "scribe:plugin@{version} is released: put changes in a new version");
        }
    }

    #[test]
    fn the_stamp_is_found_inside_the_core_module() {
        let stamped = component(&[custom("producers", b"x"), custom(SECTION, b"0.1.0")]);
        assert_eq!(check(&stamped), Ok("0.1.0".to_string()));
        assert_eq!(check(&component(&[custom(SECTION, b"0.2.0")])), Ok("0.2.0".to_string()));
        assert_eq!(check(&component(&[custom("producers", b"x")])), Err(VersionError::Missing));
        assert_eq!(check(&component(&[custom(SECTION, b"0.3.0")])), Ok("0.3.0".to_string()));
        let newer = check(&component(&[custom(SECTION, b"0.4.0")])).expect_err("0.4.0 is not spoken");
        assert_eq!(newer, VersionError::Unsupported("0.4.0".into()));
        assert!(newer.to_string().contains("scribe:plugin@0.4.0") && newer.to_string().contains("speaks 0.1.0, 0.2.0, 0.3.0"), "{newer}");
        assert!(matches!(check(b"\0asm\x01\0\0\0\x00\x05"), Err(VersionError::Malformed(_))));
    }
}
