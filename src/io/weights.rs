//! Reading trained weights saved from PyTorch / JAX / numpy: `.npy`, `.npz`, `.safetensors`,
//! and `torch.save` files (`.pt` / `.pth`, read by [`super::torch`]).
//!
//! Peers save `W` in one of two layouts (`shared/reference/model.md`): the Anthropic notebook's
//! `W[instance, feature, hidden]` (ours is `W[k]ᵀ`) and ARENA's `W[instance, hidden, feature]`
//! (ours is `W[k]` itself). The layout is never guessed: a bias whose length fits only the
//! other layout is an error that says so.
//!
//! Every malformed input is an [`Error::Format`] naming the file; nothing here panics on
//! file content.

use std::fmt;
use std::io::{Cursor, Read};
use std::path::Path;
use std::str::FromStr;

use nalgebra::{DMatrix, DVector};
use npyz::{DType, NpyFile, TypeChar};
use safetensors::{Dtype, SafeTensors};

use crate::data::{broadcast_to_instances, PerInstance};
use crate::error::{Error, Result};

/// How the two trailing axes of a saved `W` are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// `W[instance, feature, hidden]` (or `[feature, hidden]`): the Anthropic notebook; the
    /// default.
    #[default]
    FeaturesHidden,
    /// `W[instance, hidden, feature]` (or `[hidden, feature]`): ARENA's exercises, and ours.
    HiddenFeatures,
}

impl Layout {
    fn other(self) -> Layout {
        match self {
            Layout::FeaturesHidden => Layout::HiddenFeatures,
            Layout::HiddenFeatures => Layout::FeaturesHidden,
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layout::FeaturesHidden => write!(f, "features-hidden"),
            Layout::HiddenFeatures => write!(f, "hidden-features"),
        }
    }
}

impl FromStr for Layout {
    type Err = Error;

    /// Parses `features-hidden` (alias `notebook`) or `hidden-features` (alias `arena`).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "features-hidden" | "feature-hidden" | "notebook" | "fh" => Ok(Layout::FeaturesHidden),
            "hidden-features" | "hidden-feature" | "arena" | "hf" => Ok(Layout::HiddenFeatures),
            _ => Err(Error::invalid(format!(
                "unknown weight layout '{s}' (expected features-hidden (the notebook's \
                 W[instance, feature, hidden]) or hidden-features (ARENA's W[instance, hidden, feature]))"
            ))),
        }
    }
}

/// Names of the arrays/tensors to read; `None` means the defaults (`W` then `w`; bias
/// `b_final` then `b` then `bias`, optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeightNames {
    /// Name of the weight array (an `.npz` member may be given with its `.npy` suffix).
    pub w: Option<String>,
    /// Name of the bias array; when given it must exist.
    pub b: Option<String>,
}

/// One model read from a file, in our convention.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// `W` (m×n): column i is feature i's direction.
    pub w: DMatrix<f64>,
    /// `b` (n), when the file has a bias.
    pub b: Option<DVector<f64>>,
}

/// Default names tried, in order, for `W` and for the bias.
const W_DEFAULTS: &[&str] = &["W", "w"];
const B_DEFAULTS: &[&str] = &["b_final", "b", "bias"];

/// Reads every instance stored in `path` (one for a 2-D `W`, `k` for a 3-D `[k, ·, ·]` stack).
///
/// The format follows the extension (`.npy`, `.npz`, `.safetensors`, `.pt`/`.pth`); `layout`
/// defaults to [`Layout::FeaturesHidden`]. Data arrays in the file are not read (see
/// [`read_weights_and_data`]).
pub fn read_weights(
    path: &Path,
    layout: Option<Layout>,
    names: &WeightNames,
) -> Result<Vec<Instance>> {
    Ok(read_stored(path, layout, names, None)?.instances)
}

/// Names of the data arrays read beside the weights; `None` means the defaults
/// (`feature_probability` for the density, `importance`), which may be absent; a name given
/// here must exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataNames {
    /// Name of the density array (the notebook's `feature_probability`).
    pub density: Option<String>,
    /// Name of the importance array.
    pub importance: Option<String>,
}

/// Default names of the data arrays (the Anthropic notebook's).
const DENSITY_DEFAULTS: &[&str] = &["feature_probability"];
const IMPORTANCE_DEFAULTS: &[&str] = &["importance"];

/// A data array read beside the weights.
#[derive(Debug, Clone, PartialEq)]
pub struct DataArray {
    /// The name it was found under.
    pub name: String,
    /// Its shape in the file (before broadcasting).
    pub shape: Vec<usize>,
    /// Its values broadcast to `[instances, features]` ([`PerInstance::Array`]).
    pub values: PerInstance,
}

/// The weights of a file and the data arrays stored beside them.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// The models' weights, one per instance.
    pub instances: Vec<Instance>,
    /// True when `W` is a 3-D `[instances, ·, ·]` stack (even of one instance).
    pub stacked: bool,
    /// The density array, when the file holds one.
    pub density: Option<DataArray>,
    /// The importance array, when the file holds one.
    pub importance: Option<DataArray>,
}

/// [`read_weights`], and the data arrays named by `data` (the notebook's `feature_probability`
/// and `importance` by default), each shaped `[instances, features]` or broadcastable to it
/// (`[instances, 1]`, `[1, features]`, `[features]`, a scalar; see
/// [`crate::data::broadcast_to_instances`]). A `.npy` file holds no data arrays.
pub fn read_weights_and_data(
    path: &Path,
    layout: Option<Layout>,
    names: &WeightNames,
    data: &DataNames,
) -> Result<Weights> {
    read_stored(path, layout, names, Some(data))
}

fn read_stored(
    path: &Path,
    layout: Option<Layout>,
    names: &WeightNames,
    data: Option<&DataNames>,
) -> Result<Weights> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    let kind = match ext.as_str() {
        "npy" => Kind::Npy,
        "npz" => Kind::Npz,
        "safetensors" => Kind::Safetensors,
        "pt" | "pth" => Kind::Torch,
        _ => {
            let shown = if ext.is_empty() {
                "no extension".to_string()
            } else {
                format!("extension '.{ext}'")
            };
            return Err(Error::format(
                path,
                format!(
                    "unknown weights format ({shown}); expected .npy, .npz, .safetensors or a \
                     torch.save file (.pt / .pth)"
                ),
            ));
        }
    };
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_bytes(kind, &bytes, layout, names, data).map_err(|msg| Error::format(path, msg))
}

fn read_bytes(
    kind: Kind,
    bytes: &[u8],
    layout: Option<Layout>,
    names: &WeightNames,
    data: Option<&DataNames>,
) -> Msg<Weights> {
    let mut store = match kind {
        Kind::Npy => {
            let named = names.w.is_some()
                || names.b.is_some()
                || data.is_some_and(|d| d.density.is_some() || d.importance.is_some());
            if named {
                return Err(
                    "a .npy file holds one unnamed array (W, no bias); array names apply to \
                     .npz, .safetensors and .pt files"
                        .into(),
                );
            }
            let w = read_npy(&mut Cursor::new(bytes), Some(bytes.len()))?;
            let instances = assemble(
                Named {
                    name: "W".into(),
                    array: w.clone(),
                },
                None,
                layout,
            )?;
            return Ok(Weights {
                instances,
                stacked: w.shape.len() == 3,
                density: None,
                importance: None,
            });
        }
        Kind::Npz => npz_store(bytes)?,
        Kind::Safetensors => safetensors_store(bytes)?,
        Kind::Torch => torch_store(bytes)?,
    };
    let strip = |s: &String| {
        if matches!(kind, Kind::Npz) {
            s.strip_suffix(".npy").unwrap_or(s).to_string()
        } else {
            s.clone()
        }
    };
    let available = store.available.clone();
    let w_req = names.w.as_ref().map(strip);
    let b_req = names.b.as_ref().map(strip);
    let w_name = pick_name(&available, w_req.as_deref(), W_DEFAULTS, "weight", true)?
        .ok_or("no weight array")?;
    let b_name = pick_name(&available, b_req.as_deref(), B_DEFAULTS, "bias", false)?;
    let w = store.named(&w_name)?;
    let b = b_name.as_deref().map(|n| store.named(n)).transpose()?;
    let stacked = w.array.shape.len() == 3;
    let instances = assemble(w, b, layout)?;
    let (k, n) = (instances.len(), instances[0].w.ncols());
    let mut read_data = |requested: Option<&String>, defaults: &[&str], what: &str| {
        let requested = requested.map(strip);
        let Some(name) = pick_name(&available, requested.as_deref(), defaults, what, false)? else {
            return Ok(None);
        };
        let named = store.named(&name)?;
        check_finite(&named)?;
        let a = named.array;
        let values =
            broadcast_to_instances(&format!("{what} array '{name}'"), &a.shape, &a.data, k, n)
                .map_err(|e| e.to_string())?;
        Ok::<_, String>(Some(DataArray {
            name,
            shape: a.shape,
            values: PerInstance::Array { k, n, values },
        }))
    };
    let (density, importance) = match data {
        None => (None, None),
        Some(d) => (
            read_data(d.density.as_ref(), DENSITY_DEFAULTS, "density")?,
            read_data(d.importance.as_ref(), IMPORTANCE_DEFAULTS, "importance")?,
        ),
    };
    Ok(Weights {
        instances,
        stacked,
        density,
        importance,
    })
}

/// Reads one array by name.
type ReadArray<'a> = Box<dyn FnMut(&str) -> Msg<Array> + 'a>;

/// The arrays of a named-array file: their names, and a reader by name.
struct Store<'a> {
    available: Vec<String>,
    read: ReadArray<'a>,
}

impl Store<'_> {
    fn named(&mut self, name: &str) -> Msg<Named> {
        Ok(Named {
            name: name.to_string(),
            array: (self.read)(name)?,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Npy,
    Npz,
    Safetensors,
    Torch,
}

/// A dense array in C (row-major) order.
#[derive(Debug, Clone)]
struct Array {
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// An array with the name it was found under (for messages).
#[derive(Debug, Clone)]
struct Named {
    name: String,
    array: Array,
}

/// Internal results carry just the message; the caller attaches the path.
type Msg<T> = std::result::Result<T, String>;

/// Reads one `.npy` stream. `available` is the stream's total length when known, so a
/// truncated data section gets a precise message instead of a bare "unexpected EOF".
fn read_npy<R: Read>(reader: &mut R, available: Option<usize>) -> Msg<Array> {
    let mut counting = CountingReader {
        inner: reader,
        count: 0,
    };
    let header = npyz::NpyHeader::from_reader(&mut counting)
        .map_err(|e| format!("not a valid .npy file (bad header: {e})"))?;
    let header_len = counting.count;
    let shape: Vec<usize> = header
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("array dimension {d} is too large")))
        .collect::<Msg<_>>()?;
    let dtype = header.dtype();
    let ty = match &dtype {
        DType::Plain(ty) => ty.clone(),
        other => {
            return Err(format!(
                "array has a structured dtype {}; expected float32 or float64",
                other.descr()
            ))
        }
    };
    let size = ty.size_field() as usize;
    let float_ok = ty.type_char() == TypeChar::Float && matches!(size, 2 | 4 | 8);
    if !float_ok {
        return Err(format!(
            "array has dtype {} ({}); expected float32 or float64 (float16 is converted)",
            numpy_dtype_name(ty.type_char(), size),
            ty
        ));
    }
    let len = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("array shape overflows")?;
    check_entries(&shape)?;
    let need = len.checked_mul(size).ok_or("array shape overflows")?;
    if let Some(total) = available {
        let have = total.saturating_sub(header_len);
        if have < need {
            return Err(format!(
                "file is truncated: the header declares shape {shape:?} of {} ({need} bytes) but \
                 only {have} bytes of data follow",
                numpy_dtype_name(TypeChar::Float, size)
            ));
        }
    }
    let file = NpyFile::with_header(header, counting.inner);
    let order = file.order();
    let strides: Vec<usize> = file.strides().iter().map(|&s| s as usize).collect();
    let truncated = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            "array data is truncated".to_string()
        } else {
            format!("cannot read the array data: {e}")
        }
    };
    let raw: Vec<f64> = match size {
        8 => file.into_vec::<f64>().map_err(truncated)?,
        4 => file
            .into_vec::<f32>()
            .map_err(truncated)?
            .into_iter()
            .map(f64::from)
            .collect(),
        _ => {
            // float16: npyz has no reader for it without its `half` feature; decode by hand.
            let big = ty.endianness() == npyz::Endianness::Big;
            let mut buf = vec![0u8; need];
            file.into_inner().read_exact(&mut buf).map_err(truncated)?;
            buf.chunks_exact(2)
                .map(|c| {
                    let bits = if big {
                        u16::from_be_bytes([c[0], c[1]])
                    } else {
                        u16::from_le_bytes([c[0], c[1]])
                    };
                    f16_to_f64(bits)
                })
                .collect()
        }
    };
    let data = match order {
        npyz::Order::C => raw,
        npyz::Order::Fortran => to_c_order(&raw, &shape, &strides),
    };
    Ok(Array { shape, data })
}

/// Reorders `raw` (element `Σ idx_d·strides_d`) into C order for `shape`.
fn to_c_order(raw: &[f64], shape: &[usize], strides: &[usize]) -> Vec<f64> {
    let len: usize = shape.iter().product();
    let mut out = Vec::with_capacity(len);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..len {
        let off: usize = idx.iter().zip(strides).map(|(i, s)| i * s).sum();
        out.push(raw[off]);
        // Increment the multi-index, last axis fastest.
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Counts bytes read so the header length is known.
struct CountingReader<R> {
    inner: R,
    count: usize,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.count += k;
        Ok(k)
    }
}

fn numpy_dtype_name(c: TypeChar, size: usize) -> String {
    match c {
        TypeChar::Float => format!("float{}", size * 8),
        TypeChar::Int => format!("int{}", size * 8),
        TypeChar::Uint => format!("uint{}", size * 8),
        TypeChar::Complex => format!("complex{}", size * 8),
        TypeChar::Bool => "bool".into(),
        TypeChar::Object => "object (pickled)".into(),
        other => format!("'{}'", other.to_str()),
    }
}

/// Picks the array to read: the requested name, or the first default present.
fn pick_name(
    available: &[String],
    requested: Option<&str>,
    defaults: &[&str],
    what: &str,
    required: bool,
) -> Msg<Option<String>> {
    let list = || {
        if available.is_empty() {
            "the file holds no arrays".to_string()
        } else {
            format!("the file holds: {}", available.join(", "))
        }
    };
    match requested {
        Some(name) => {
            if available.iter().any(|a| a == name) {
                Ok(Some(name.to_string()))
            } else {
                Err(format!("no {what} array named '{name}'; {}", list()))
            }
        }
        None => match defaults.iter().find(|d| available.iter().any(|a| a == *d)) {
            Some(d) => Ok(Some(d.to_string())),
            None if required => Err(format!(
                "no {what} array under the default names ({}); {} (choose one by name)",
                defaults.join(", "),
                list()
            )),
            None => Ok(None),
        },
    }
}

fn npz_store(bytes: &[u8]) -> Msg<Store<'_>> {
    let mut archive = npyz::npz::NpzArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("not a valid .npz (zip) archive: {e}"))?;
    let mut available: Vec<String> = archive.array_names().map(str::to_string).collect();
    available.sort();
    let read = move |name: &str| -> Msg<Array> {
        // The raw member (not `NpzArchive::by_name`, which has already consumed the header).
        let member = npyz::npz::file_name_from_array_name(name);
        let mut file = archive
            .zip_archive()
            .by_name(&member)
            .map_err(|e| format!("cannot read member '{member}': {e}"))?;
        let size = usize::try_from(file.size()).ok();
        read_npy(&mut file, size).map_err(|m| format!("array '{name}': {m}"))
    };
    Ok(Store {
        available,
        read: Box::new(read),
    })
}

fn safetensors_store(bytes: &[u8]) -> Msg<Store<'_>> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| format!("not a valid .safetensors file: {e}"))?;
    let mut available: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    available.sort();
    let read = move |name: &str| -> Msg<Array> {
        let view = st
            .tensor(name)
            .map_err(|e| format!("cannot read tensor '{name}': {e}"))?;
        check_entries(view.shape()).map_err(|m| format!("tensor '{name}': {m}"))?;
        let d = view.data();
        // Bytes are little-endian and not necessarily aligned: decode chunk by chunk.
        let data: Vec<f64> = match view.dtype() {
            Dtype::F64 => d
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")))
                .collect(),
            Dtype::F32 => d
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4-byte chunk"))))
                .collect(),
            Dtype::F16 => d
                .chunks_exact(2)
                .map(|c| f16_to_f64(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            Dtype::BF16 => d
                .chunks_exact(2)
                .map(|c| bf16_to_f64(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            other => {
                return Err(format!(
                    "tensor '{name}' has dtype {other:?}; expected F32 or F64 (F16 and BF16 are \
                     converted)"
                ))
            }
        };
        let shape = view.shape().to_vec();
        if data.len() != shape.iter().product::<usize>() {
            return Err(format!(
                "tensor '{name}' has a data size that does not match its shape"
            ));
        }
        Ok(Array { shape, data })
    };
    Ok(Store {
        available,
        read: Box::new(read),
    })
}

/// Refuses an array shape beyond [`crate::limits::MAX_ARRAY_ENTRIES`] numbers, from the shape
/// alone (before the data are read or decompressed).
fn check_entries(shape: &[usize]) -> Msg<()> {
    let len = shape.iter().fold(1u64, |a, &d| a.saturating_mul(d as u64));
    if len > crate::limits::MAX_ARRAY_ENTRIES {
        return Err(format!(
            "the shape {shape:?} holds {len} numbers ({} as f64); the limit is {} numbers per \
             array (refused before reading the data)",
            crate::limits::bytes_text(len as f64 * 8.0),
            crate::limits::MAX_ARRAY_ENTRIES
        ));
    }
    Ok(())
}

/// Same names and checks as `.npz`; tensor names are `state_dict()`'s (see [`super::torch`]).
fn torch_store(bytes: &[u8]) -> Msg<Store<'static>> {
    let file = super::torch::TorchFile::from_bytes(bytes.to_vec())?;
    let available = file.names();
    let read = move |name: &str| -> Msg<Array> {
        let (shape, data) = file.tensor(name)?;
        check_entries(&shape).map_err(|m| format!("tensor '{name}': {m}"))?;
        Ok(Array { shape, data })
    };
    Ok(Store {
        available,
        read: Box::new(read),
    })
}

/// IEEE half precision to f64 (exact).
pub(crate) fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1f) as i32;
    let mant = (bits & 0x3ff) as f64;
    let mag = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
    };
    sign * mag
}

/// bfloat16 (the top half of an f32) to f64 (exact).
pub(crate) fn bf16_to_f64(bits: u16) -> f64 {
    f64::from(f32::from_bits(u32::from(bits) << 16))
}

/// Checks shapes and values and converts to our convention.
fn assemble(w: Named, b: Option<Named>, layout: Option<Layout>) -> Msg<Vec<Instance>> {
    let explicit = layout.is_some();
    let layout = layout.unwrap_or_default();
    let wa = &w.array;
    check_finite(&w)?;
    let (k, d1, d2, stacked) = match wa.shape[..] {
        [d1, d2] => (1, d1, d2, false),
        [k, d1, d2] => (k, d1, d2, true),
        _ => {
            return Err(format!(
            "array '{}' has shape {:?} (rank {}); expected a 2-D [features, hidden] matrix or a \
                 3-D [instances, features, hidden] stack (or hidden before features with the \
                 hidden-features layout)",
            w.name,
            wa.shape,
            wa.shape.len()
        ))
        }
    };
    if k == 0 || d1 == 0 || d2 == 0 {
        return Err(format!(
            "array '{}' has shape {:?}, which is empty",
            w.name, wa.shape
        ));
    }
    let (n, m) = match layout {
        Layout::FeaturesHidden => (d1, d2),
        Layout::HiddenFeatures => (d2, d1),
    };
    let describe = |l: Layout| match l {
        Layout::FeaturesHidden => {
            "features-hidden layout (the notebook's [instance, feature, hidden])"
        }
        Layout::HiddenFeatures => "hidden-features layout (ARENA's [instance, hidden, feature])",
    };
    // Bias: [n] for a 2-D W; [k, n] or [n] (shared) for a 3-D W.
    let bias: Option<(Vec<f64>, bool)> = match &b {
        None => None,
        Some(bn) => {
            check_finite(bn)?;
            let ba = &bn.array;
            let (bk, bl, shared) = match ba.shape[..] {
                [l] => (1, l, true),
                [bk, l] if stacked => (bk, l, false),
                _ => {
                    return Err(format!(
                        "bias '{}' has shape {:?}; with W of shape {:?} expected {}",
                        bn.name,
                        ba.shape,
                        wa.shape,
                        if stacked {
                            format!("[{k}, n] or [n]")
                        } else {
                            "[n]".to_string()
                        }
                    ))
                }
            };
            if bl != n {
                let (other_n, _) = match layout.other() {
                    Layout::FeaturesHidden => (d1, d2),
                    Layout::HiddenFeatures => (d2, d1),
                };
                let hint = if bl == other_n {
                    format!(
                        "; it would match under the {} — is the file in that layout?",
                        describe(layout.other())
                    )
                } else {
                    String::new()
                };
                return Err(format!(
                    "bias '{}' has {bl} entries per instance but W of shape {:?} has {n} features \
                     under the {}{}{hint}",
                    bn.name,
                    wa.shape,
                    describe(layout),
                    if explicit { "" } else { ", the default" }
                ));
            }
            if !shared && bk != k {
                return Err(format!(
                    "bias '{}' has {bk} instances but W '{}' has {k}",
                    bn.name, w.name
                ));
            }
            Some((ba.data.clone(), shared))
        }
    };
    let per = d1 * d2;
    let out = (0..k)
        .map(|inst| {
            let block = &wa.data[inst * per..(inst + 1) * per];
            // block is [d1, d2] row-major.
            let w = match layout {
                // W_ours[h, f] = block[f, h]
                Layout::FeaturesHidden => DMatrix::from_fn(m, n, |h, f| block[f * d2 + h]),
                // W_ours[h, f] = block[h, f]
                Layout::HiddenFeatures => DMatrix::from_fn(m, n, |h, f| block[h * d2 + f]),
            };
            let b = bias.as_ref().map(|(data, shared)| {
                let start = if *shared { 0 } else { inst * n };
                DVector::from_column_slice(&data[start..start + n])
            });
            Instance { w, b }
        })
        .collect();
    Ok(out)
}

fn check_finite(a: &Named) -> Msg<()> {
    match a.array.data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(flat) => {
            // Report the multi-index, which is what a user can look up.
            let mut idx = vec![0usize; a.array.shape.len()];
            let mut r = flat;
            for d in (0..idx.len()).rev() {
                let s = a.array.shape[d].max(1);
                idx[d] = r % s;
                r /= s;
            }
            Err(format!(
                "array '{}' has a non-finite entry ({}) at index {idx:?}",
                a.name, a.array.data[flat]
            ))
        }
    }
}

/// Tied models as the Anthropic notebook keeps them, as `.npz` bytes: `W` `[k, n, m]` (its
/// features-hidden layout), `b_final` `[k, n]`, and the data arrays `feature_probability` and
/// `importance` `[k, n]`, which [`read_weights_and_data`] reads back per instance.
pub fn npz_stack(
    models: &[(&crate::model::Model, &crate::objective::Objective)],
) -> Result<Vec<u8>> {
    let Some((first, _)) = models.first() else {
        return Err(Error::invalid("an .npz stack needs at least one model"));
    };
    let (n, m) = (first.n(), first.m());
    let (mut w, mut b, mut p, mut imp) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (model, obj) in models {
        if model.n() != n || model.m() != m {
            return Err(Error::invalid(
                "the models of an .npz stack must all have the same n and m",
            ));
        }
        if model.w_out().is_some() {
            return Err(Error::invalid(
                "an .npz stack holds tied models (W, b_final); write untied models as JSON",
            ));
        }
        if !matches!(
            obj.data().distribution(),
            crate::data::Distribution::Independent
        ) {
            return Err(Error::invalid(
                "an .npz stack stores per-feature densities (feature_probability), which \
                 only independent data have; write JSON model files instead",
            ));
        }
        for i in 0..n {
            for h in 0..m {
                w.push(model.w()[(h, i)]);
            }
        }
        b.extend(model.b().iter());
        p.extend(obj.data().density().iter());
        imp.extend(obj.data().importance().iter());
    }
    let k = models.len() as u64;
    let (n, m) = (n as u64, m as u64);
    let mut npz = npyz::npz::NpzWriter::new(Cursor::new(Vec::new()));
    let io = |e: std::io::Error| Error::invalid(format!("could not encode the .npz stack: {e}"));
    for (name, shape, data) in [
        ("W", vec![k, n, m], &w),
        ("b_final", vec![k, n], &b),
        ("feature_probability", vec![k, n], &p),
        ("importance", vec![k, n], &imp),
    ] {
        use npyz::WriterBuilder;
        let mut writer = npz
            .array::<f64>(name, Default::default())
            .map_err(io)?
            .default_dtype()
            .shape(&shape)
            .begin_nd()
            .map_err(io)?;
        writer.extend(data.iter().copied()).map_err(io)?;
        writer.finish().map_err(io)?;
    }
    let cursor = npz
        .zip_writer()
        .finish()
        .map_err(|e| Error::invalid(format!("could not encode the .npz stack: {e}")))?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_conversions_are_exact() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
        assert_eq!(f16_to_f64(0x7bff), 65504.0);
        assert!(f16_to_f64(0x7c00).is_infinite());
        assert!(f16_to_f64(0x7e00).is_nan());
        assert_eq!(bf16_to_f64(0x3f80), 1.0);
        assert_eq!(bf16_to_f64(0xc040), -3.0);
    }

    #[test]
    fn fortran_reorder() {
        // shape [2, 3], Fortran strides [1, 2]: raw[i + 2j] = a[i][j].
        let raw = [0.0, 10.0, 1.0, 11.0, 2.0, 12.0];
        let c = to_c_order(&raw, &[2, 3], &[1, 2]);
        assert_eq!(c, vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
    }

    #[test]
    fn layout_parses() {
        assert_eq!("arena".parse::<Layout>().unwrap(), Layout::HiddenFeatures);
        assert_eq!(
            "features_hidden".parse::<Layout>().unwrap(),
            Layout::FeaturesHidden
        );
        assert!("sideways".parse::<Layout>().is_err());
    }
}
