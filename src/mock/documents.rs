//! Real documents for the sandbox: a page layout in inches, drawn as a PNG
//! (1-bit, with a small bitmap font), a PDF (Helvetica) or ZPL (printer
//! fonts and a Code 128 barcode). Every page says it is a sandbox document.

use std::fmt::Write as _;

/// What every sandbox document prints at its foot.
const WATERMARK: &str = "SANDBOX - NOT VALID FOR SHIPPING";

/// A document format the sandbox renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Png,
    Pdf,
    Zpl,
}

impl Format {
    /// The API's value (`PNG`, `PDF`, `ZPL`), case-sensitive like Amazon's enum.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        match value {
            "PNG" => Some(Self::Png),
            "PDF" => Some(Self::Pdf),
            "ZPL" => Some(Self::Zpl),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Png => "PNG",
            Self::Pdf => "PDF",
            Self::Zpl => "ZPL",
        }
    }
}

/// One thing drawn on a page. Coordinates in inches from the top left;
/// text sizes in points, `y` being the top of the text.
#[derive(Debug, Clone)]
enum Item {
    Text {
        x: f64,
        y: f64,
        size: f64,
        bold: bool,
        text: String,
    },
    Fill {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
    },
    Barcode {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        data: String,
    },
}

/// A page being laid out top to bottom.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    width: f64,
    height: f64,
    /// Scale of text and gaps relative to a 4x6 inch label.
    scale: f64,
    margin: f64,
    cursor: f64,
    items: Vec<Item>,
}

impl Page {
    /// An empty page of `width` x `height` inches with a frame around it.
    pub(crate) fn new(width: f64, height: f64) -> Self {
        let width = width.clamp(1.0, 12.0);
        let height = height.clamp(1.0, 17.0);
        let scale = (width / 4.0).min(height / 6.0).clamp(0.4, 2.0);
        let margin = 0.12 * scale;
        let mut page = Self {
            width,
            height,
            scale,
            margin,
            cursor: margin + 0.12 * scale,
            items: Vec::new(),
        };
        let line = 0.03 * scale;
        let (x0, y0) = (margin, margin);
        let (w, h) = (width - 2.0 * margin, height - 2.0 * margin);
        page.fill(x0, y0, w, line);
        page.fill(x0, y0 + h - line, w, line);
        page.fill(x0, y0, line, h);
        page.fill(x0 + w - line, y0, line, h);
        page.footer();
        page
    }

    fn fill(&mut self, x: f64, y: f64, w: f64, h: f64) {
        self.items.push(Item::Fill { x, y, w, h });
    }

    fn left(&self) -> f64 {
        self.margin + 0.12 * self.scale
    }

    fn inner_width(&self) -> f64 {
        self.width - 2.0 * self.left()
    }

    /// The last line the body may use, above the footer.
    fn bottom(&self) -> f64 {
        self.height - self.margin - 0.35 * self.scale
    }

    fn footer(&mut self) {
        let size = 7.0 * self.scale;
        let y = self.height - self.margin - 0.22 * self.scale;
        let x = self.left();
        self.items.push(Item::Text {
            x,
            y,
            size,
            bold: true,
            text: WATERMARK.to_owned(),
        });
    }

    /// Whether a line of `size` points still fits above the footer.
    pub(crate) fn fits(&self, size: f64) -> bool {
        self.cursor + size * self.scale / 72.0 * 1.35 <= self.bottom()
    }

    /// A line of text; cut to the page width. A character is taken as 3/4
    /// of the size wide, the PNG font's advance (Helvetica is narrower).
    pub(crate) fn text(&mut self, size: f64, bold: bool, text: &str) {
        let size = size * self.scale;
        let max_chars = (self.inner_width() * 72.0 / (size * 0.75)).floor().max(1.0) as usize;
        let text: String = text.chars().take(max_chars).collect();
        self.items.push(Item::Text {
            x: self.left(),
            y: self.cursor,
            size,
            bold,
            text,
        });
        self.cursor += size / 72.0 * 1.35;
    }

    /// A horizontal rule across the frame, with a little space around it.
    pub(crate) fn rule(&mut self) {
        let y = self.cursor + 0.04 * self.scale;
        let (x, w) = (self.margin, self.width - 2.0 * self.margin);
        self.fill(x, y, w, 0.02 * self.scale);
        self.cursor = y + 0.1 * self.scale;
    }

    /// Vertical space, in inches at the 4x6 scale.
    pub(crate) fn gap(&mut self, inches: f64) {
        self.cursor += inches * self.scale;
    }

    /// A barcode of `data` across the page, `height` inches at the 4x6 scale.
    pub(crate) fn barcode(&mut self, height: f64, data: &str) {
        let h = height * self.scale;
        self.items.push(Item::Barcode {
            x: self.left(),
            y: self.cursor,
            w: self.inner_width(),
            h,
            data: data.to_owned(),
        });
        self.cursor += h + 0.08 * self.scale;
    }

    /// The page in `format`; `dpi` sets the PNG's pixels and ZPL's dots.
    pub(crate) fn render(&self, format: Format, dpi: u32) -> Vec<u8> {
        match format {
            Format::Png => self.png(dpi),
            Format::Pdf => self.pdf(),
            Format::Zpl => self.zpl(dpi).into_bytes(),
        }
    }

    // -----------------------------------------------------------------
    // PDF

    fn pdf(&self) -> Vec<u8> {
        let (w, h) = (self.width * 72.0, self.height * 72.0);
        let mut content = String::new();
        for item in &self.items {
            match item {
                Item::Text {
                    x,
                    y,
                    size,
                    bold,
                    text,
                } => {
                    let font = if *bold { "F2" } else { "F1" };
                    let baseline = h - (y * 72.0 + size * 0.8);
                    let _ = writeln!(
                        content,
                        "BT /{font} {size:.2} Tf {:.2} {baseline:.2} Td ({}) Tj ET",
                        x * 72.0,
                        pdf_string(text)
                    );
                }
                Item::Fill { x, y, w: fw, h: fh } => {
                    let _ = writeln!(
                        content,
                        "{:.2} {:.2} {:.2} {:.2} re f",
                        x * 72.0,
                        h - (y + fh) * 72.0,
                        fw * 72.0,
                        fh * 72.0
                    );
                }
                Item::Barcode {
                    x,
                    y,
                    w: bw,
                    h: bh,
                    data,
                } => {
                    let modules = modules(data);
                    let module = bw * 72.0 / modules.len() as f64;
                    for (start, len) in runs(&modules) {
                        let _ = writeln!(
                            content,
                            "{:.3} {:.2} {:.3} {:.2} re f",
                            x * 72.0 + start as f64 * module,
                            h - (y + bh) * 72.0,
                            len as f64 * module,
                            bh * 72.0
                        );
                    }
                }
            }
        }
        let font = |name: &str| {
            format!(
                "<< /Type /Font /Subtype /Type1 /BaseFont /{name} /Encoding /WinAnsiEncoding >>"
            )
        };
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w:.2} {h:.2}] \
                 /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>"
            ),
            font("Helvetica"),
            font("Helvetica-Bold"),
            format!(
                "<< /Length {} >>\nstream\n{content}endstream",
                content.len()
            ),
        ];
        let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (i, object) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
        for offset in offsets {
            // Each entry is 20 bytes: the space before the newline is required.
            let _ = writeln!(tail, "{offset:010} 00000 n ");
        }
        let _ = write!(
            tail,
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        );
        out.extend_from_slice(tail.as_bytes());
        out
    }

    // -----------------------------------------------------------------
    // ZPL

    fn zpl(&self, dpi: u32) -> String {
        let dots = |inches: f64| (inches * f64::from(dpi)).round().max(1.0) as u32;
        let mut out = format!(
            "^XA\n^CI28\n^PW{}\n^LL{}\n",
            dots(self.width),
            dots(self.height)
        );
        for item in &self.items {
            match item {
                Item::Text {
                    x,
                    y,
                    size,
                    bold,
                    text,
                } => {
                    let height = dots(size / 72.0);
                    let width = if *bold { height } else { height * 4 / 5 };
                    let text: String = text
                        .chars()
                        .map(|c| if matches!(c, '^' | '~') { ' ' } else { c })
                        .collect();
                    let _ = writeln!(
                        out,
                        "^FO{},{}^A0N,{height},{width}^FD{text}^FS",
                        dots(*x),
                        dots(*y)
                    );
                }
                Item::Fill { x, y, w, h } => {
                    let (w, h) = (dots(*w), dots(*h));
                    let _ = writeln!(
                        out,
                        "^FO{},{}^GB{w},{h},{}^FS",
                        dots(*x),
                        dots(*y),
                        w.min(h)
                    );
                }
                Item::Barcode { x, y, w, h, data } => {
                    // Code 128 needs about 11 modules a character plus 35.
                    let modules = 11 * data.len() as u32 + 35;
                    let module = (dots(*w) / modules).clamp(1, 10);
                    let _ = writeln!(
                        out,
                        "^FO{},{}^BY{module}^BCN,{},N,N,N^FD{data}^FS",
                        dots(*x),
                        dots(*y),
                        dots(*h)
                    );
                }
            }
        }
        out.push_str("^XZ\n");
        out
    }

    // -----------------------------------------------------------------
    // PNG

    fn png(&self, dpi: u32) -> Vec<u8> {
        let px = |inches: f64| (inches * f64::from(dpi)).round().max(0.0) as usize;
        let mut bitmap = Bitmap::new(px(self.width).max(1), px(self.height).max(1));
        for item in &self.items {
            match item {
                Item::Text {
                    x,
                    y,
                    size,
                    bold,
                    text,
                } => {
                    // A glyph cell is 8 pixels high and 6 wide at scale 1;
                    // rounding down keeps text within the width laid out.
                    let scale = ((size / 72.0 * f64::from(dpi)) / 8.0).floor().max(1.0) as usize;
                    bitmap.text(px(*x), px(*y), scale, *bold, text);
                }
                Item::Fill { x, y, w, h } => {
                    bitmap.fill(px(*x), px(*y), px(*w).max(1), px(*h).max(1));
                }
                Item::Barcode { x, y, w, h, data } => {
                    let modules = modules(data);
                    let module = (px(*w) / modules.len()).max(1);
                    for (start, len) in runs(&modules) {
                        bitmap.fill(px(*x) + start * module, px(*y), len * module, px(*h));
                    }
                }
            }
        }
        bitmap.encode(dpi)
    }
}

/// What a shipping label shows.
#[derive(Debug, Clone)]
pub(crate) struct LabelText {
    pub(crate) carrier: String,
    pub(crate) service: String,
    pub(crate) tracking_id: String,
    pub(crate) shipment_id: String,
    pub(crate) reference: String,
    /// (this package's number, packages in the shipment), from 1.
    pub(crate) package: (usize, usize),
    pub(crate) weight: String,
    pub(crate) from: Vec<String>,
    pub(crate) to: Vec<String>,
}

/// A shipping label of `width` x `height` inches.
pub(crate) fn label(width: f64, height: f64, label: &LabelText) -> Page {
    let mut page = Page::new(width, height);
    page.text(18.0, true, &label.carrier.to_uppercase());
    page.text(11.0, false, &label.service);
    page.rule();
    page.text(7.0, true, "FROM");
    for line in &label.from {
        page.text(8.0, false, line);
    }
    page.rule();
    page.text(8.0, true, "SHIP TO");
    for (i, line) in label.to.iter().enumerate() {
        page.text(11.0, i == 0, line);
    }
    page.rule();
    page.gap(0.05);
    page.barcode(1.0, &label.tracking_id);
    page.text(12.0, true, &label.tracking_id);
    page.rule();
    page.text(8.0, false, &format!("REF {}", label.reference));
    page.text(
        8.0,
        false,
        &format!(
            "SHIPMENT {}  PACKAGE {}/{}",
            label.shipment_id, label.package.0, label.package.1
        ),
    );
    page.text(8.0, false, &format!("WEIGHT {}", label.weight));
    page
}

/// A document of lines under a title (packing slip, receipt, customs form,
/// collection form); lines that do not fit are summarised in a last line.
pub(crate) fn sheet(
    width: f64,
    height: f64,
    title: &str,
    head: &[String],
    lines: &[String],
) -> Page {
    let mut page = Page::new(width, height);
    page.text(16.0, true, title);
    for line in head {
        page.text(8.0, false, line);
    }
    page.rule();
    for (i, line) in lines.iter().enumerate() {
        let left = lines.len() - i;
        if left > 1 && !page.fits(9.0 * 2.0) || !page.fits(9.0) {
            page.text(9.0, false, &format!("... and {left} more"));
            break;
        }
        page.text(9.0, false, line);
    }
    page
}

/// Text for a PDF string literal in WinAnsiEncoding: Latin-1 characters as
/// octal escapes, anything else as `?`.
fn pdf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            '\u{A0}'..='\u{FF}' => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            _ => out.push('?'),
        }
    }
    out
}

/// The bars of a barcode-like pattern for `data` (not a scannable
/// symbology; the ZPL rendering uses the printer's real Code 128): guard
/// bars, then each bit of each byte as a one- or two-module bar and a
/// one-module space, then guard bars.
fn modules(data: &str) -> Vec<bool> {
    let mut out = vec![true, true, false, true, false];
    for byte in data.bytes() {
        for bit in (0..8).rev() {
            out.push(true);
            if byte >> bit & 1 == 1 {
                out.push(true);
            }
            out.push(false);
        }
    }
    out.extend([true, false, true, true]);
    out
}

/// The runs of bars: (first module, length).
fn runs(modules: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &bar) in modules.iter().chain(std::iter::once(&false)).enumerate() {
        match (bar, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i - s));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// A 1-bit image, white (bit set) until drawn on.
struct Bitmap {
    width: usize,
    height: usize,
    stride: usize,
    bits: Vec<u8>,
}

impl Bitmap {
    fn new(width: usize, height: usize) -> Self {
        let stride = width.div_ceil(8);
        Self {
            width,
            height,
            stride,
            bits: vec![0xFF; stride * height],
        }
    }

    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize) {
        let (x_end, y_end) = ((x + w).min(self.width), (y + h).min(self.height));
        for row in y.min(y_end)..y_end {
            let line = &mut self.bits[row * self.stride..(row + 1) * self.stride];
            for col in x.min(x_end)..x_end {
                line[col / 8] &= !(0x80 >> (col % 8));
            }
        }
    }

    fn text(&mut self, x: usize, y: usize, scale: usize, bold: bool, text: &str) {
        let mut left = x;
        for c in text.chars() {
            let rows = glyph(c);
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits >> (4 - col) & 1 == 1 {
                        let w = if bold {
                            scale + scale.div_ceil(2)
                        } else {
                            scale
                        };
                        self.fill(left + col * scale, y + r * scale, w, scale);
                    }
                }
            }
            left += 6 * scale;
        }
    }

    /// A grayscale, 1 bit per pixel PNG with the resolution recorded.
    fn encode(&self, dpi: u32) -> Vec<u8> {
        let mut raw = Vec::with_capacity((self.stride + 1) * self.height);
        for row in self.bits.chunks(self.stride) {
            raw.push(0); // filter type None
            raw.extend_from_slice(row);
        }
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut header = Vec::with_capacity(13);
        header.extend_from_slice(&(self.width as u32).to_be_bytes());
        header.extend_from_slice(&(self.height as u32).to_be_bytes());
        header.extend_from_slice(&[1, 0, 0, 0, 0]); // depth 1, grayscale
        chunk(&mut out, b"IHDR", &header);
        let per_metre = (f64::from(dpi) / 0.0254).round() as u32;
        let mut phys = Vec::with_capacity(9);
        phys.extend_from_slice(&per_metre.to_be_bytes());
        phys.extend_from_slice(&per_metre.to_be_bytes());
        phys.push(1); // unit: metre
        chunk(&mut out, b"pHYs", &phys);
        chunk(&mut out, b"IDAT", &zlib_stored(&raw));
        chunk(&mut out, b"IEND", &[]);
        out
    }
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of uncompressed ("stored") deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(0xFFFF).collect()
    };
    let last = blocks.len() - 1;
    for (i, block) in blocks.into_iter().enumerate() {
        out.push(u8::from(i == last));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut n = 0;
        while n < 256 {
            let mut c = n as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[n] = c;
            n += 1;
        }
        table
    };
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc = TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}

/// A 5x7 glyph, one row a byte (bit 4 is the leftmost column). Lower case
/// prints as upper case; characters without a glyph print as `?`.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        ' ' => [0; 7],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '/' => [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '&' => [0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '\'' => [0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00],
        '|' => [0x04; 7],
        '@' => [0x0E, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0F],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Page {
        let mut page = Page::new(4.0, 6.0);
        page.text(18.0, true, "Amazon Shipping");
        page.rule();
        page.barcode(1.0, "TBA123456789012");
        page.text(9.0, false, "Café (Zürich) \\ 東京");
        page
    }

    #[test]
    fn png_is_a_well_formed_image_of_the_requested_resolution() {
        let png = sample().render(Format::Png, 203);
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(&png[12..16], b"IHDR");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((width, height), (812, 1218));
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]));
    }

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    #[test]
    fn pdf_cross_reference_points_at_each_object() {
        let pdf = sample().render(Format::Pdf, 300);
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(
            text.contains("(Caf\\351 \\(Z\\374rich\\) \\\\ ??) Tj"),
            "{text}"
        );
        // Everything after the binary comment on line 2 is ASCII.
        let tail = std::str::from_utf8(&pdf[15..]).unwrap();
        let startxref: usize = tail
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .unwrap()
            .parse()
            .unwrap();
        let xref = std::str::from_utf8(&pdf[startxref..]).unwrap();
        assert!(xref.starts_with("xref\n0 7\n0000000000 65535 f \n"));
        for (i, line) in xref.lines().skip(3).take(6).enumerate() {
            assert_eq!(
                line.len(),
                19,
                "{line:?}: entries are 20 bytes with the newline"
            );
            let offset: usize = line[..10].parse().unwrap();
            assert!(pdf[offset..].starts_with(format!("{} 0 obj", i + 1).as_bytes()));
        }
    }

    #[test]
    fn zpl_is_one_label_format_with_a_code_128_barcode() {
        let zpl = String::from_utf8(sample().render(Format::Zpl, 203)).unwrap();
        assert!(zpl.starts_with("^XA"));
        assert!(zpl.trim_end().ends_with("^XZ"));
        assert!(zpl.contains("^BCN,203,N,N,N^FDTBA123456789012^FS"), "{zpl}");
        assert!(zpl.contains(WATERMARK));
    }
}
