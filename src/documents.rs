//! Label documents as typed bytes.
//!
//! Purchases (`purchaseShipment`, `directPurchaseShipment`,
//! `oneClickShipment`) and `getShipmentDocuments` return each package's
//! documents as base64 strings with a declared format. A label that fails to
//! decode, or whose bytes are not what the format says, only shows up when a
//! printer rejects it; this module decodes the contents, checks the bytes
//! against the declared format, and saves them under a predictable file name,
//! so such a problem is an error at the point the response arrives.
//!
//! ```no_run
//! # fn example(result: &spapi_shipping::types::PurchaseShipmentResult) -> Result<(), spapi_shipping::documents::DocumentError> {
//! use spapi_shipping::documents::{SaveOptions, decode_all, save_all};
//! // Every document of every package, saved in one call: no two share a
//! // name, and each file is mode 0600 (labels carry buyers' addresses).
//! let mut documents = Vec::new();
//! for detail in result.package_document_details.iter() {
//!     documents.extend(decode_all(detail)?);
//! }
//! let labels = std::path::Path::new("labels");
//! for (doc, path) in documents.iter().zip(save_all(&documents, labels, &SaveOptions::default())?) {
//!     println!("{doc:?} -> {}", path.display());
//! }
//! # Ok(()) }
//! ```
//!
//! Format checks, deliberately lenient only where real files vary:
//! - PNG: the bytes start with the 8-byte PNG signature.
//! - PDF: `%PDF-`, after an optional UTF-8 byte-order mark and ASCII
//!   whitespace (readers tolerate both; Amazon's PDFs start with `%PDF-`).
//! - ZPL: after an optional byte-order mark and ASCII whitespace, either `^XA`
//!   (start of a label format), or a `~` command (`~DG` graphic downloads,
//!   `~SD` darkness, `~JA`, ...) with a `^XA` later in the document: printers
//!   execute tilde commands outside a format, so such files are valid labels.
//!
//! The bytes are never altered: what is checked is what is saved.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::types;

/// Standard alphabet, padding optional: the API pads, but a hand-copied or
/// re-encoded document may not, and padding carries no information.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// How many leading bytes an error shows, enough to recognise a format.
const SHOWN_BYTES: usize = 16;
/// Longest package reference kept in a file name, well under the usual
/// 255-byte file-name limit once the type and extension are added.
const MAX_STEM: usize = 128;

/// The format of a decoded document, checked against its bytes.
///
/// Unlike [`types::DocumentFormat`], this only names formats the client can
/// verify, so code matching on it needs no catch-all arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelFormat {
    /// A PNG image.
    Png,
    /// A PDF document.
    Pdf,
    /// Zebra Programming Language, sent to a thermal printer as-is.
    Zpl,
}

impl LabelFormat {
    /// The file extension without a dot: `png`, `pdf` or `zpl`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Pdf => "pdf",
            Self::Zpl => "zpl",
        }
    }

    /// The media type, for serving or mailing a document. ZPL has no
    /// registered type; `application/x-zpl` is the conventional private one.
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Pdf => "application/pdf",
            Self::Zpl => "application/x-zpl",
        }
    }

    /// What the bytes look like, by the checks described in the module docs.
    fn detect(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(PNG_SIGNATURE) {
            return Some(Self::Png);
        }
        let text = skip_bom_and_whitespace(bytes);
        if text.starts_with(b"%PDF-") {
            Some(Self::Pdf)
        } else if text.starts_with(b"^XA")
            || (text.starts_with(b"~") && text.windows(3).any(|w| w == b"^XA"))
        {
            Some(Self::Zpl)
        } else {
            None
        }
    }

    /// The declared API format, or `None` for one this client cannot check
    /// (a value added to the API later).
    fn from_declared(format: &types::DocumentFormat) -> Option<Self> {
        // Matching the wire value keeps this independent of the generated
        // enum's variants.
        match format.to_string().to_ascii_uppercase().as_str() {
            "PNG" => Some(Self::Png),
            "PDF" => Some(Self::Pdf),
            "ZPL" => Some(Self::Zpl),
            _ => None,
        }
    }
}

impl fmt::Display for LabelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Png => "PNG",
            Self::Pdf => "PDF",
            Self::Zpl => "ZPL",
        })
    }
}

fn skip_bom_and_whitespace(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// A document's bytes, decoded and checked.
///
/// The ids are `None` when decoded with [`LabelDocument::from_document`],
/// which sees a single document; [`decode_all`] fills them in from the
/// package detail.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LabelDocument {
    /// The format, verified against [`bytes`](Self::bytes).
    pub format: LabelFormat,
    /// The API's document type as sent: `LABEL`, `RECEIPT`, `CUSTOM_FORM`,
    /// `PACKSLIP`, or a value added later.
    pub document_type: String,
    /// The decoded document.
    pub bytes: Vec<u8>,
    /// The client's reference for the package, if known and not empty.
    pub package_client_reference_id: Option<String>,
    /// The carrier's tracking id, if known.
    pub tracking_id: Option<String>,
}

/// Shows the length rather than the bytes, which are large and unreadable.
impl fmt::Debug for LabelDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabelDocument")
            .field("format", &self.format)
            .field("document_type", &self.document_type)
            .field("len", &self.bytes.len())
            .field(
                "package_client_reference_id",
                &self.package_client_reference_id,
            )
            .field("tracking_id", &self.tracking_id)
            .finish()
    }
}

impl LabelDocument {
    /// Decodes `contents` and checks the bytes match the declared format, so
    /// a broken label is an error here rather than a rejected print job.
    ///
    /// Contents are standard base64; padding is optional and ASCII
    /// whitespace (line breaks) is ignored. The format checks are described
    /// in the [module docs](self). Errors carry no package or document index;
    /// [`decode_all`] adds them.
    pub fn from_document(doc: &types::PackageDocument) -> Result<Self, DocumentError> {
        decode(doc, &Context::default())
    }

    /// A file name from the package reference, document type and format, e.g.
    /// `ASUSDI-45343854-label.png`, safe to join onto a directory.
    ///
    /// Characters other than ASCII letters, digits, `-`, `_` and `.` become
    /// `_`, as does a leading `.` (no hidden files, no `..`), and the
    /// reference is cut to 128 characters. A reference changed by either
    /// step gets 8 hex digits of a hash of the original appended, so
    /// references that sanitise alike (`A/1` and `A_1`) still get distinct
    /// names (`A_1-a0b093b8-label.png`, `A_1-label.png`), the same on every
    /// run. A missing reference falls back to the tracking id, then to
    /// `package`. Two documents of the same type and format for the same
    /// package get the same name; [`save_all`] numbers them.
    pub fn file_name(&self) -> String {
        let reference = [&self.package_client_reference_id, &self.tracking_id]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
            .unwrap_or("package");
        let mut stem: String = reference
            .chars()
            .take(MAX_STEM)
            .enumerate()
            .map(|(i, c)| match c {
                '.' if i == 0 => '_',
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
                _ => '_',
            })
            .collect();
        if stem != reference {
            stem.push_str(&format!("-{:08x}", fnv1a(reference.as_bytes()) as u32));
        }
        let kind: String = self
            .document_type
            .to_ascii_lowercase()
            .chars()
            .map(|c| match c {
                'a'..='z' | '0'..='9' | '-' | '_' => c,
                _ => '_',
            })
            .collect();
        format!("{stem}-{kind}.{}", self.format.extension())
    }

    /// Writes the bytes into `dir` (created if needed) under
    /// [`file_name`](Self::file_name) and returns the path.
    ///
    /// The bytes go to a temporary file in `dir` that is synced and then
    /// renamed over the target, so a reader never sees a partial label and a
    /// failed write leaves any earlier file intact. The file is readable and
    /// writable by its owner only (mode 0600 on Unix, [`SaveOptions`]'s
    /// default): a label carries the buyer's name and address. An existing
    /// file is replaced: labels are regenerated, e.g. by
    /// `getShipmentDocuments`. Two documents of one package with the same
    /// type and format, or of packages without reference and tracking id,
    /// share a name: save a purchase's documents with [`save_all`], which
    /// numbers them.
    pub fn save_in(&self, dir: &Path) -> Result<PathBuf, DocumentError> {
        self.save_in_with(dir, &SaveOptions::default())
    }

    /// [`save_in`](Self::save_in) with options, e.g. files others may read
    /// (`SaveOptions::default().owner_only(false)`).
    pub fn save_in_with(
        &self,
        dir: &Path,
        options: &SaveOptions,
    ) -> Result<PathBuf, DocumentError> {
        self.save_as(dir, &self.file_name(), options)
    }

    fn save_as(
        &self,
        dir: &Path,
        name: &str,
        options: &SaveOptions,
    ) -> Result<PathBuf, DocumentError> {
        std::fs::create_dir_all(dir).map_err(|source| DocumentError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let target = dir.join(name);
        let temp = dir.join(temp_name(name));
        let written = write_synced(&temp, &self.bytes, options)
            .and_then(|()| std::fs::rename(&temp, &target));
        if let Err(source) = written {
            // Best effort: the temp file may not exist, and the write error
            // is the one worth reporting.
            let _ = std::fs::remove_file(&temp);
            return Err(DocumentError::Io {
                path: target,
                source,
            });
        }
        // Make the rename itself durable; a failure here loses nothing the
        // caller can act on.
        #[cfg(unix)]
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        Ok(target)
    }
}

/// Removes temporary files of [`save_all`] and
/// [`LabelDocument::save_in_with`] left in `dir` by a writer killed before
/// its rename, once older than `older_than` (no write takes that long, so a
/// live writer's file is never touched). Returns how many were removed; a
/// missing `dir` has none.
#[cfg_attr(not(feature = "journal"), allow(dead_code))]
pub(crate) fn remove_stale_temp_files(
    dir: &Path,
    older_than: std::time::Duration,
) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.ends_with(".tmp")) {
            continue;
        }
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if age.is_some_and(|age| age >= older_than) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// A name no other writer, in this process or another, is using.
fn temp_name(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{name}.{}.{n}.tmp", std::process::id())
}

fn write_synced(path: &Path, bytes: &[u8], options: &SaveOptions) -> std::io::Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    if options.owner_only {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Set at creation, so the bytes are never readable by others, even
        // briefly; the rename keeps the mode.
        open.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = options;
    let mut file = open.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// How [`LabelDocument::save_in_with`] and [`save_all`] write files.
///
/// The default writes owner-only files (`owner_only: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaveOptions {
    /// Create files readable and writable by the owner only (mode 0600 on
    /// Unix, set when the file is created, so the bytes are never readable
    /// by others; ignored elsewhere). Labels carry buyers' names and
    /// addresses. Default true; false lets the process umask decide, as for
    /// any new file (typically 0644: readable by every user of the machine).
    pub owner_only: bool,
}

impl Default for SaveOptions {
    /// Owner-only files.
    fn default() -> Self {
        Self { owner_only: true }
    }
}

impl SaveOptions {
    /// Sets [`owner_only`](Self::owner_only).
    pub fn owner_only(mut self, owner_only: bool) -> Self {
        self.owner_only = owner_only;
        self
    }
}

/// Saves every document in `dir` like [`LabelDocument::save_in_with`]
/// (atomically: temporary file, fsync, rename), and gives names repeated
/// within `docs` a counter (`P1-label.png`, `P1-label-2.png`, ...), so no
/// document of the batch overwrites another: pass all the documents of a
/// purchase, every package's, in one call. Returns the paths in the order
/// of `docs`; stops at the first error.
pub fn save_all(
    docs: &[LabelDocument],
    dir: &Path,
    options: &SaveOptions,
) -> Result<Vec<PathBuf>, DocumentError> {
    let mut used = std::collections::HashSet::new();
    docs.iter()
        .map(|doc| {
            let base = doc.file_name();
            let name = (1..)
                .map(|n| numbered(&base, n))
                .find(|name| !used.contains(name))
                .expect("some number is free");
            used.insert(name.clone());
            doc.save_as(dir, &name, options)
        })
        .collect()
}

/// `name` for `n == 1`, else `n` before the extension (`a-label-2.png`).
fn numbered(name: &str, n: usize) -> String {
    match (n, name.rsplit_once('.')) {
        (1, _) => name.to_owned(),
        (_, Some((stem, extension))) => format!("{stem}-{n}.{extension}"),
        (_, None) => format!("{name}-{n}"),
    }
}

/// 64-bit FNV-1a: a stable hash for file names (std's `DefaultHasher` may
/// change between Rust releases, and a name must not). Five lines, so not
/// worth a dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Every document of a package detail, decoded, with the package's ids.
///
/// All or nothing: the first bad document is an error naming its package and
/// index, since a shipment printed with one of its documents missing is
/// worse than one not printed.
pub fn decode_all(
    detail: &types::PackageDocumentDetail,
) -> Result<Vec<LabelDocument>, DocumentError> {
    let reference = detail
        .package_client_reference_id
        .as_deref()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let tracking_id = detail.tracking_id.as_ref().map(|t| t.to_string());
    let package = reference.clone().or_else(|| tracking_id.clone());
    detail
        .package_documents
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            let context = Context {
                package: package.clone(),
                document: Some(i),
            };
            let mut decoded = decode(doc, &context)?;
            decoded.package_client_reference_id = reference.clone();
            decoded.tracking_id = tracking_id.clone();
            Ok(decoded)
        })
        .collect()
}

/// Where a document came from, for error messages.
#[derive(Default)]
struct Context {
    package: Option<String>,
    document: Option<usize>,
}

fn decode(doc: &types::PackageDocument, context: &Context) -> Result<LabelDocument, DocumentError> {
    let package = || context.package.clone();
    let document = context.document;
    let Some(declared) = LabelFormat::from_declared(&doc.format) else {
        return Err(DocumentError::UnsupportedFormat {
            package: package(),
            document,
            format: doc.format.to_string(),
        });
    };
    // Extra memory stays under twice the base64 size: whitespace (line
    // breaks) is removed into one exactly-sized copy only when there is
    // some, and the decoded bytes take three quarters of it. An error's
    // position is found by a second scan, only when there is an error.
    // Left out by Amazon: no bytes, so `Empty` below.
    let contents = doc.contents.as_deref().map_or(&b""[..], |c| c.as_bytes());
    let stripped: Vec<u8>;
    let symbols: &[u8] = if contents.iter().any(u8::is_ascii_whitespace) {
        let mut kept = Vec::with_capacity(contents.len());
        kept.extend(contents.iter().filter(|b| !b.is_ascii_whitespace()));
        stripped = kept;
        &stripped
    } else {
        contents
    };
    if symbols.is_empty() {
        return Err(DocumentError::Empty {
            package: package(),
            document,
        });
    }
    let bytes = BASE64.decode(symbols).map_err(|e| {
        // The offset in the original string of the `i`th symbol, so an
        // error points at a character the caller can find.
        let at = |i: usize| {
            contents
                .iter()
                .enumerate()
                .filter(|(_, b)| !b.is_ascii_whitespace())
                .nth(i)
                .map_or(contents.len(), |(j, _)| j)
        };
        let (index, message) = match e {
            base64::DecodeError::InvalidByte(i, b) => {
                (at(i), format!("invalid character {:?}", char::from(b)))
            }
            base64::DecodeError::InvalidLastSymbol { offset, symbol, .. } => (
                at(offset),
                format!(
                    "last character {:?} has bits set past the data",
                    char::from(symbol)
                ),
            ),
            base64::DecodeError::InvalidLength(n) => (
                contents.len(),
                format!("{n} symbols is not a possible length (truncated?)"),
            ),
            base64::DecodeError::InvalidPadding => {
                let first_pad = symbols.iter().position(|&b| b == b'=');
                (
                    first_pad.map_or(contents.len(), at),
                    "wrong padding".to_owned(),
                )
            }
        };
        DocumentError::InvalidBase64 {
            package: package(),
            document,
            index,
            message,
        }
    })?;
    if bytes.is_empty() {
        return Err(DocumentError::Empty {
            package: package(),
            document,
        });
    }
    let detected = LabelFormat::detect(&bytes);
    if detected != Some(declared) {
        return Err(DocumentError::FormatMismatch {
            package: package(),
            document,
            declared: declared.to_string(),
            detected,
            first_bytes: hex(&bytes[..bytes.len().min(SHOWN_BYTES)]),
        });
    }
    Ok(LabelDocument {
        format: declared,
        document_type: doc.type_.to_string(),
        bytes,
        package_client_reference_id: None,
        tracking_id: None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a document could not be decoded or saved.
///
/// `package` is the package's client reference (or, if empty, its tracking
/// id) and `document` the document's index within the package; both are
/// `None` from [`LabelDocument::from_document`], which does not know them.
#[derive(Debug)]
#[non_exhaustive]
pub enum DocumentError {
    /// The contents are not valid base64.
    InvalidBase64 {
        /// The package, if known.
        package: Option<String>,
        /// The document's index in the package, if known.
        document: Option<usize>,
        /// Character offset in `contents` of the first bad character
        /// (the length of `contents` if it is cut short).
        index: usize,
        /// What is wrong there.
        message: String,
    },
    /// The bytes do not match the declared format.
    FormatMismatch {
        /// The package, if known.
        package: Option<String>,
        /// The document's index in the package, if known.
        document: Option<usize>,
        /// The format the API declared, e.g. `PNG`.
        declared: String,
        /// What the bytes look like, `None` if no known format.
        detected: Option<LabelFormat>,
        /// The first bytes as hex, to recognise what was sent.
        first_bytes: String,
    },
    /// A format the client does not know, e.g. one added to the API later.
    UnsupportedFormat {
        /// The package, if known.
        package: Option<String>,
        /// The document's index in the package, if known.
        document: Option<usize>,
        /// The format as sent.
        format: String,
    },
    /// The contents are empty.
    Empty {
        /// The package, if known.
        package: Option<String>,
        /// The document's index in the package, if known.
        document: Option<usize>,
    },
    /// Writing the document failed.
    Io {
        /// The directory or file being written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject =
            |f: &mut fmt::Formatter<'_>, package: &Option<String>, document: &Option<usize>| {
                match document {
                    Some(i) => write!(f, "document {i}")?,
                    None => f.write_str("document")?,
                }
                match package {
                    Some(p) => write!(f, " of package {p:?}"),
                    None => Ok(()),
                }
            };
        match self {
            Self::InvalidBase64 {
                package,
                document,
                index,
                message,
            } => {
                subject(f, package, document)?;
                write!(
                    f,
                    ": contents are not valid base64 at character {index}: {message}"
                )
            }
            Self::FormatMismatch {
                package,
                document,
                declared,
                detected,
                first_bytes,
            } => {
                subject(f, package, document)?;
                write!(f, ": declared {declared} but the bytes ")?;
                match detected {
                    Some(format) => write!(f, "are {format}")?,
                    None => f.write_str("are no known format")?,
                }
                write!(f, " (starting {first_bytes})")
            }
            Self::UnsupportedFormat {
                package,
                document,
                format,
            } => {
                subject(f, package, document)?;
                write!(f, ": unsupported format {format:?}")
            }
            Self::Empty { package, document } => {
                subject(f, package, document)?;
                f.write_str(": contents are empty")
            }
            Self::Io { path, source } => {
                write!(f, "writing {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for DocumentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A complete 1x1 grey PNG: signature, IHDR, IDAT, IEND.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, // signature
        0x00, 0x00, 0x00, 0x0d, b'I', b'H', b'D', b'R', // IHDR, 13 bytes
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, // 1 x 1
        0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b, 0x55, // 8-bit grey, crc
        0x00, 0x00, 0x00, 0x0a, b'I', b'D', b'A', b'T', // IDAT, 10 bytes
        0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, // zlib
        0x48, 0xaf, 0xa4, 0x71, // crc
        0x00, 0x00, 0x00, 0x00, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82,
    ];
    const PDF: &[u8] =
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    const ZPL: &[u8] = b"^XA^FO50,50^ADN,36,20^FDHello^FS^XZ";
    /// The contents in Amazon's own examples for purchaseShipment and
    /// getShipmentDocuments.
    const SPEC_PLACEHOLDER: &str = "sdioadaiosfhdodsaiufhouafhoudfhdouahfac==";

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn document(format: &str, contents: &str) -> types::PackageDocument {
        serde_json::from_value(json!({"type": "LABEL", "format": format, "contents": contents}))
            .expect("a valid PackageDocument")
    }

    fn detail(documents: serde_json::Value) -> types::PackageDocumentDetail {
        serde_json::from_value(json!({
            "packageClientReferenceId": "ASUSDI-45343854",
            "trackingId": "T1234567",
            "packageDocuments": documents,
        }))
        .expect("a valid PackageDocumentDetail")
    }

    fn label(reference: Option<&str>, tracking: Option<&str>) -> LabelDocument {
        LabelDocument {
            format: LabelFormat::Png,
            document_type: "LABEL".into(),
            bytes: PNG.to_vec(),
            package_client_reference_id: reference.map(Into::into),
            tracking_id: tracking.map(Into::into),
        }
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "spapi-shipping-documents-{tag}-{}-{}",
                std::process::id(),
                fastrand::u64(..)
            ));
            Self(path)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn png_round_trips() {
        let doc = LabelDocument::from_document(&document("PNG", &b64(PNG))).unwrap();
        assert_eq!(doc.format, LabelFormat::Png);
        assert_eq!(doc.document_type, "LABEL");
        assert_eq!(doc.bytes, PNG);
        assert_eq!(doc.file_name(), "package-label.png");
        assert_eq!(doc.format.mime_type(), "image/png");
    }

    #[test]
    fn pdf_round_trips() {
        let doc = LabelDocument::from_document(&document("PDF", &b64(PDF))).unwrap();
        assert_eq!(doc.format, LabelFormat::Pdf);
        assert_eq!(doc.bytes, PDF);
        assert_eq!(doc.file_name(), "package-label.pdf");
    }

    #[test]
    fn zpl_round_trips() {
        let doc = LabelDocument::from_document(&document("ZPL", &b64(ZPL))).unwrap();
        assert_eq!(doc.format, LabelFormat::Zpl);
        assert_eq!(doc.bytes, ZPL);
        assert_eq!(doc.file_name(), "package-label.zpl");
    }

    #[test]
    fn pdf_after_bom_and_whitespace_is_accepted_and_kept_unchanged() {
        let bytes = [UTF8_BOM, b"\r\n", PDF].concat();
        let doc = LabelDocument::from_document(&document("PDF", &b64(&bytes))).unwrap();
        assert_eq!(doc.bytes, bytes);
    }

    #[test]
    fn zpl_may_start_with_whitespace_or_tilde_commands() {
        for zpl in [&b"\r\n  ^XA^FDx^FS^XZ"[..], b"~SD20~JA\n^XA^FDx^FS^XZ"] {
            let doc = LabelDocument::from_document(&document("ZPL", &b64(zpl))).unwrap();
            assert_eq!(doc.bytes, zpl);
        }
    }

    #[test]
    fn tilde_commands_without_a_label_format_are_not_zpl() {
        let err = LabelDocument::from_document(&document("ZPL", &b64(b"~JA~SD20"))).unwrap_err();
        assert!(
            matches!(err, DocumentError::FormatMismatch { detected: None, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn pdf_declared_png_is_a_mismatch_detecting_pdf() {
        let err = LabelDocument::from_document(&document("PNG", &b64(PDF))).unwrap_err();
        match &err {
            DocumentError::FormatMismatch {
                declared,
                detected,
                first_bytes,
                ..
            } => {
                assert_eq!(declared, "PNG");
                assert_eq!(*detected, Some(LabelFormat::Pdf));
                assert!(first_bytes.starts_with("25 50 44 46 2d"), "{first_bytes}");
            }
            other => panic!("expected FormatMismatch, got {other:?}"),
        }
        assert!(
            err.to_string()
                .contains("declared PNG but the bytes are PDF"),
            "{err}"
        );
    }

    #[test]
    fn garbage_declared_zpl_is_a_mismatch_detecting_nothing() {
        let err =
            LabelDocument::from_document(&document("ZPL", &b64(b"hello, world"))).unwrap_err();
        assert!(
            matches!(
                &err,
                DocumentError::FormatMismatch { declared, detected: None, first_bytes, .. }
                    if declared == "ZPL" && first_bytes.starts_with("68 65 6c 6c 6f")
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("no known format"), "{err}");
    }

    #[test]
    fn invalid_base64_reports_the_position_of_the_first_bad_character() {
        let err = LabelDocument::from_document(&document("PNG", "iVBO\nRw0K*GgoA")).unwrap_err();
        match &err {
            DocumentError::InvalidBase64 { index, message, .. } => {
                // Offset in the original string, newline included.
                assert_eq!(*index, 9);
                assert!(message.contains("'*'"), "{message}");
            }
            other => panic!("expected InvalidBase64, got {other:?}"),
        }
        assert!(
            err.to_string().contains("not valid base64 at character 9"),
            "{err}"
        );
    }

    #[test]
    fn empty_or_blank_contents_are_empty() {
        for contents in ["", " \n\t"] {
            let err = LabelDocument::from_document(&document("PDF", contents)).unwrap_err();
            assert!(
                matches!(
                    err,
                    DocumentError::Empty {
                        package: None,
                        document: None
                    }
                ),
                "{err:?}"
            );
            assert_eq!(err.to_string(), "document: contents are empty");
        }
    }

    #[test]
    fn base64_with_line_breaks_and_without_padding_decodes() {
        let encoded = b64(PDF);
        assert!(encoded.ends_with('='), "the fixture should need padding");
        let wrapped: String = encoded
            .trim_end_matches('=')
            .as_bytes()
            .chunks(16)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n");
        let doc = LabelDocument::from_document(&document("PDF", &wrapped)).unwrap();
        assert_eq!(doc.bytes, PDF);
    }

    #[test]
    fn file_name_uses_the_reference_type_and_extension() {
        let mut doc = label(Some("ASUSDI-45343854"), Some("T1234567"));
        assert_eq!(doc.file_name(), "ASUSDI-45343854-label.png");
        doc.document_type = "CUSTOM_FORM".into();
        doc.format = LabelFormat::Pdf;
        assert_eq!(doc.file_name(), "ASUSDI-45343854-custom_form.pdf");
    }

    #[test]
    fn file_name_is_sanitised_into_a_single_path_component() {
        for reference in ["ref/../x y", "..\\..\\etc", "../passwd", "a:b*c?\u{e9}"] {
            let name = label(Some(reference), None).file_name();
            assert!(!name.contains(['/', '\\', ':', ' ']), "{name}");
            assert!(!name.starts_with('.'), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{name}"
            );
            assert_eq!(Path::new(&name).components().count(), 1, "{name}");
        }
        let name = label(Some("ref/../x y"), None).file_name();
        assert!(
            name.starts_with("ref_.._x_y-") && name.ends_with("-label.png"),
            "{name}"
        );
        let long = "x".repeat(1000);
        assert!(label(Some(&long), None).file_name().len() <= 255);
    }

    /// Issue 11, finding 8: `A/1` and `A_1` both became `A_1-label.png`,
    /// so the second label silently replaced the first.
    #[test]
    fn references_that_sanitise_alike_get_distinct_stable_names() {
        let tmp = TempDir::new("alike");
        let slash = label(Some("A/1"), None);
        let mut underscore = label(Some("A_1"), None);
        underscore.bytes = [PNG, b"second"].concat();
        assert_eq!(underscore.file_name(), "A_1-label.png");
        let name = slash.file_name();
        assert_eq!(name, "A_1-a0b093b8-label.png");
        assert_ne!(label(Some("A:1"), None).file_name(), name);
        let first = slash.save_in(&tmp.0).unwrap();
        let second = underscore.save_in(&tmp.0).unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).unwrap(), PNG);
        assert_eq!(std::fs::read(&second).unwrap(), underscore.bytes);
        // Truncated references are told apart too.
        let long_a = format!("{}a", "x".repeat(MAX_STEM));
        let long_b = format!("{}b", "x".repeat(MAX_STEM));
        assert_ne!(
            label(Some(&long_a), None).file_name(),
            label(Some(&long_b), None).file_name()
        );
    }

    #[test]
    fn save_all_numbers_names_repeated_in_the_batch() {
        let tmp = TempDir::new("batch");
        let mut docs = vec![
            label(Some("P1"), None),
            label(Some("P1"), None),
            label(Some("P2"), None),
        ];
        docs[1].bytes = [PNG, b"two"].concat();
        let paths = save_all(&docs, &tmp.0, &SaveOptions::default()).unwrap();
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["P1-label.png", "P1-label-2.png", "P2-label.png"]);
        for (doc, path) in docs.iter().zip(&paths) {
            assert_eq!(std::fs::read(path).unwrap(), doc.bytes);
        }
        assert_eq!(numbered("x", 3), "x-3");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_owner_only_unless_asked_otherwise() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let tmp = TempDir::new("private");
        assert!(SaveOptions::default().owner_only);
        let doc = label(Some("P1"), None);
        assert_eq!(mode(&doc.save_in(&tmp.0).unwrap()), 0o600);
        let docs = [label(Some("P3"), None), label(Some("P3"), None)];
        for path in save_all(&docs, &tmp.0, &SaveOptions::default()).unwrap() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        // Replacing an existing, more open file makes it private too.
        let open = label(Some("P2"), None);
        let path = open
            .save_in_with(&tmp.0, &SaveOptions::default().owner_only(false))
            .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        open.save_in(&tmp.0).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn file_name_falls_back_to_tracking_id_then_package() {
        assert_eq!(
            label(None, Some("T1234567")).file_name(),
            "T1234567-label.png"
        );
        assert_eq!(
            label(Some("  "), Some("T1234567")).file_name(),
            "T1234567-label.png"
        );
        assert_eq!(label(None, None).file_name(), "package-label.png");
    }

    #[test]
    fn save_in_creates_the_directory_and_writes_exactly_the_bytes() {
        let tmp = TempDir::new("save");
        let dir = tmp.0.join("nested");
        let doc = label(Some("ASUSDI-45343854"), None);
        let path = doc.save_in(&dir).unwrap();
        assert_eq!(path, dir.join("ASUSDI-45343854-label.png"));
        assert_eq!(std::fs::read(&path).unwrap(), PNG);
        let entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            entries,
            [std::ffi::OsString::from("ASUSDI-45343854-label.png")],
            "no temp file left"
        );
    }

    #[test]
    fn stale_temp_files_of_a_killed_writer_are_removed_and_labels_kept() {
        let tmp = TempDir::new("stale");
        let doc = label(Some("P1"), None);
        let kept = doc.save_in(&tmp.0).unwrap();
        let stale = tmp.0.join(temp_name("P1-label.png"));
        std::fs::write(&stale, b"half a label").unwrap();
        // Younger than the limit: a live writer's, kept.
        assert_eq!(
            remove_stale_temp_files(&tmp.0, std::time::Duration::from_secs(3600)).unwrap(),
            0
        );
        assert!(stale.exists());
        assert_eq!(
            remove_stale_temp_files(&tmp.0, std::time::Duration::ZERO).unwrap(),
            1
        );
        assert!(!stale.exists());
        assert_eq!(std::fs::read(&kept).unwrap(), PNG);
        assert_eq!(
            remove_stale_temp_files(&tmp.0.join("missing"), std::time::Duration::ZERO).unwrap(),
            0
        );
    }

    #[test]
    fn save_in_overwrites_an_earlier_label() {
        let tmp = TempDir::new("overwrite");
        let mut doc = label(Some("p"), None);
        doc.save_in(&tmp.0).unwrap();
        doc.bytes = [PNG, b"regenerated"].concat();
        let path = doc.save_in(&tmp.0).unwrap();
        assert_eq!(std::fs::read(path).unwrap(), doc.bytes);
        assert_eq!(std::fs::read_dir(&tmp.0).unwrap().count(), 1);
    }

    #[test]
    fn save_in_a_file_instead_of_a_directory_is_an_io_error_naming_it() {
        let tmp = TempDir::new("file");
        std::fs::write(&tmp.0, b"not a directory").unwrap();
        let err = label(None, None).save_in(&tmp.0).unwrap_err();
        match &err {
            DocumentError::Io { path, .. } => assert!(path.starts_with(&tmp.0), "{path:?}"),
            other => panic!("expected Io, got {other:?}"),
        }
        assert!(err.to_string().contains(&*tmp.0.to_string_lossy()), "{err}");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(std::fs::read(&tmp.0).unwrap(), b"not a directory");
    }

    #[test]
    fn decode_all_returns_every_document_with_the_package_ids() {
        let detail = detail(json!([
            {"type": "LABEL", "format": "PNG", "contents": b64(PNG)},
            {"type": "RECEIPT", "format": "PDF", "contents": b64(PDF)},
        ]));
        let docs = decode_all(&detail).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(
            (docs[0].format, docs[0].bytes.as_slice()),
            (LabelFormat::Png, PNG)
        );
        assert_eq!(
            (docs[1].format, docs[1].bytes.as_slice()),
            (LabelFormat::Pdf, PDF)
        );
        assert_eq!(docs[1].document_type, "RECEIPT");
        for doc in &docs {
            assert_eq!(
                doc.package_client_reference_id.as_deref(),
                Some("ASUSDI-45343854")
            );
            assert_eq!(doc.tracking_id.as_deref(), Some("T1234567"));
        }
        assert_eq!(docs[0].file_name(), "ASUSDI-45343854-label.png");
        assert_eq!(docs[1].file_name(), "ASUSDI-45343854-receipt.pdf");
    }

    #[test]
    fn decode_all_names_the_package_and_index_of_the_first_bad_document() {
        let detail = detail(json!([
            {"type": "LABEL", "format": "ZPL", "contents": b64(ZPL)},
            {"type": "LABEL", "format": "PNG", "contents": b64(ZPL)},
            {"type": "LABEL", "format": "PNG", "contents": ""},
        ]));
        let err = decode_all(&detail).unwrap_err();
        assert!(
            matches!(
                &err,
                DocumentError::FormatMismatch { package: Some(p), document: Some(1), .. }
                    if p == "ASUSDI-45343854"
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("document 1 of package \"ASUSDI-45343854\": declared PNG"),
            "{err}"
        );
    }

    #[test]
    fn amazons_placeholder_contents_are_an_error_saying_why() {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../tests/fixtures/responses/getShipmentDocuments.json"
        ))
        .unwrap();
        let payload = &fixture["examples"]["200"]["payload"]["packageDocumentDetail"];
        assert_eq!(payload["packageDocuments"][0]["contents"], SPEC_PLACEHOLDER);
        let detail: types::PackageDocumentDetail = serde_json::from_value(payload.clone()).unwrap();
        let err = decode_all(&detail).unwrap_err();
        assert!(
            matches!(err, DocumentError::InvalidBase64 { .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("ASUSDI-45343854"), "{message}");
        assert!(message.contains("not valid base64"), "{message}");

        // Without the stray padding it is valid base64, but its bytes are no
        // PNG, so it still cannot become a broken file.
        let unpadded = SPEC_PLACEHOLDER.trim_end_matches('=');
        let err = LabelDocument::from_document(&document("PNG", unpadded)).unwrap_err();
        assert!(
            matches!(err, DocumentError::FormatMismatch { detected: None, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_format_unknown_to_the_client_is_unsupported() {
        // Only once the generated enum accepts unknown values does such a
        // document deserialize; until then serde rejects it earlier.
        let value = json!({"type": "LABEL", "format": "GIF", "contents": b64(b"GIF89a")});
        if let Ok(doc) = serde_json::from_value::<types::PackageDocument>(value) {
            let err = LabelDocument::from_document(&doc).unwrap_err();
            assert!(
                matches!(&err, DocumentError::UnsupportedFormat { format, .. } if format == "GIF"),
                "{err:?}"
            );
            assert!(
                err.to_string().contains("unsupported format \"GIF\""),
                "{err}"
            );
        }
    }

    #[test]
    fn debug_shows_the_length_not_the_bytes() {
        let shown = format!("{:?}", label(Some("p"), Some("t")));
        assert!(shown.contains(&format!("len: {}", PNG.len())), "{shown}");
        assert!(
            shown.contains("\"p\"") && shown.contains("\"t\"") && shown.contains("Png"),
            "{shown}"
        );
        assert!(!shown.contains("137"), "no raw bytes: {shown}");
    }

    #[test]
    fn formats_name_their_extensions() {
        let all = [LabelFormat::Png, LabelFormat::Pdf, LabelFormat::Zpl];
        assert_eq!(all.map(LabelFormat::extension), ["png", "pdf", "zpl"]);
        assert_eq!(
            all.map(LabelFormat::mime_type),
            ["image/png", "application/pdf", "application/x-zpl"]
        );
    }
}
