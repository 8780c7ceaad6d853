//! `flight-rebase`: the command line of flight-mem-wasm (SPEC §7).

use flight_mem_wasm::{Isolation, Options, parse_segment, parse_shared, rebase, relocations_json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: flight-rebase IN.wasm -o OUT.wasm --segment BASE:SIZE
              [--isolation trusted|masked|checked]     (default: checked)
              [--memory-import MODULE.FIELD]          (default: env.memory)
              [--shared IMPORT=BASE:SIZE:read|write]...
              [--relocations FILE]                    (a table of every rewrite)
              [--no-validate]                         (for modules already validated)
BASE and SIZE: decimal, 0x hex, optionally with KiB, MiB or GiB.
--no-validate skips wasm validation (the fast path, 2-4x faster). Still refused
with an error and no output: not wasm, a malformed section, function and
code counts that differ, an instruction that does not decode (an unknown
opcode, an immediate past the body's end; an over-long index LEB of 6 or 7
bytes can pass), a memory index that does not exist, and every refusal of
the rebase itself (segment or window too small, overlap, memory64, a write
into a `read` window, ...), and in checked and masked a data offset holding
more than constant-expression instructions, or not leaving exactly one value
(those modes run data offsets in an appended start function). Not checked: types and stack heights of
function bodies, function/local/global/table/type/label indices, the
module-level rules (export names and indices, other constant expressions, ...);
sections the rebaser does not parse (table, element, tag, custom) and the
globals' initial values are copied as they are, even malformed: they hold
no memory access, and every function body is rewritten whatever they say.
An invalid input then gives an invalid output, which an engine rejects
when it compiles it; isolation is promised for valid input.";

struct Args {
    input: PathBuf,
    output: PathBuf,
    relocations: Option<PathBuf>,
    options: Options,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut input = None;
    let mut output = None;
    let mut segment = None;
    let mut isolation = Isolation::Checked;
    let mut memory_import = ("env".to_string(), "memory".to_string());
    let mut shared = Vec::new();
    let mut relocations = None;
    let mut validate = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("`{name}` needs a value"))
        };
        match a.as_str() {
            "-o" | "--output" => output = Some(PathBuf::from(value(a)?)),
            "--segment" => segment = Some(parse_segment(&value(a)?).map_err(|e| e.to_string())?),
            "--isolation" => {
                isolation = match value(a)?.as_str() {
                    "trusted" => Isolation::Trusted,
                    "masked" => Isolation::Masked,
                    "checked" => Isolation::Checked,
                    other => {
                        return Err(format!(
                            "`--isolation {other}`: expected trusted, masked or checked"
                        ));
                    }
                }
            }
            "--memory-import" => {
                let v = value(a)?;
                let (m, f) = v
                    .split_once('.')
                    .ok_or_else(|| format!("`--memory-import {v}`: expected MODULE.FIELD"))?;
                memory_import = (m.to_string(), f.to_string());
            }
            "--shared" => shared.push(parse_shared(&value(a)?).map_err(|e| e.to_string())?),
            "--relocations" => relocations = Some(PathBuf::from(value(a)?)),
            "--no-validate" => validate = false,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option `{s}`")),
            s => {
                if input.replace(PathBuf::from(s)).is_some() {
                    return Err(format!("a second input `{s}`: one module at a time"));
                }
            }
        }
    }
    let segment = segment.ok_or("`--segment BASE:SIZE` is required")?;
    let mut options = Options::new(segment);
    options.isolation = isolation;
    options.memory_import = memory_import;
    options.shared = shared;
    options.relocations = relocations.is_some();
    options.validate = validate;
    Ok(Args {
        input: input.ok_or("no input module")?,
        output: output.ok_or("`-o OUT.wasm` is required")?,
        relocations,
        options,
    })
}

/// An output prepared but not yet in place: a regular file's bytes sit
/// complete in a temporary file beside it, to be renamed over it; a path
/// naming something other than a regular file (`/dev/null`, a pipe) is
/// written in place at commit — renaming over it would replace the device
/// or pipe with a regular file for every other program on the machine.
enum Staged<'a> {
    Temp { tmp: PathBuf, dest: PathBuf },
    InPlace { path: PathBuf, bytes: &'a [u8] },
}

/// Prepares `bytes` for `path` (see [`Staged`]); a symbolic link is
/// followed, so that the link stays and the file it points to is replaced.
/// A failure leaves nothing behind.
fn stage<'a>(path: &Path, bytes: &'a [u8]) -> std::io::Result<Staged<'a>> {
    if let Ok(meta) = std::fs::metadata(path) {
        // No file can be renamed over a directory: found only at commit,
        // after the outputs before it were put in place.
        if meta.is_dir() {
            return Err(std::io::ErrorKind::IsADirectory.into());
        }
        if !meta.is_file() {
            return Ok(Staged::InPlace {
                path: path.to_path_buf(),
                bytes,
            });
        }
    }
    let dest = resolve_links(path)?;
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy());
    // A new file, never one already there: the name is predictable, and
    // `File::create` followed a link planted under it (in a shared
    // directory, by anyone) and wrote the module into the file it named.
    // Another name is tried when one is taken.
    let pid = std::process::id();
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = match attempt {
            0 => dir.join(format!(".{name}.{pid}.tmp")),
            n => dir.join(format!(".{name}.{pid}.{n}.tmp")),
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 64 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    // The rename replaces the file, so the new one would get the default
    // permissions: an output written over an existing file keeps its mode.
    let kept_mode = match std::fs::metadata(&dest) {
        Ok(meta) => file.set_permissions(meta.permissions()),
        Err(_) => Ok(()),
    };
    let result = kept_mode
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| file.sync_all());
    match result {
        Ok(()) => Ok(Staged::Temp { tmp, dest }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

impl Staged<'_> {
    /// Puts the output in place.
    fn commit(&self) -> std::io::Result<()> {
        match self {
            Staged::Temp { tmp, dest } => std::fs::rename(tmp, dest),
            Staged::InPlace { path, bytes } => std::fs::OpenOptions::new()
                .write(true)
                .open(path)?
                .write_all(bytes),
        }
    }

    /// Drops an output that will not be committed.
    fn discard(&self) {
        if let Staged::Temp { tmp, .. } = self {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Writes every `(path, bytes)` or, when one cannot be prepared, none: all
/// regular files are first written completely to temporary files beside
/// them (so a reader never sees half a file), and only then renamed over
/// their paths — a relocation table is never left without its module.
fn write_outputs(outputs: &[(&Path, &[u8])]) -> Result<(), String> {
    let mut staged = Vec::with_capacity(outputs.len());
    for &(path, bytes) in outputs {
        match stage(path, bytes) {
            Ok(s) => staged.push(s),
            Err(e) => {
                staged.iter().for_each(Staged::discard);
                return Err(format!("cannot write `{}`: {e}", path.display()));
            }
        }
    }
    // Renames in one directory already written to rarely fail; if one
    // does, the outputs not yet in place are dropped.
    for (i, s) in staged.iter().enumerate() {
        if let Err(e) = s.commit() {
            staged[i..].iter().for_each(Staged::discard);
            return Err(format!("cannot write `{}`: {e}", outputs[i].0.display()));
        }
    }
    Ok(())
}

/// The path a chain of symbolic links at `path` ends at (itself when it is
/// no link); the end need not exist yet.
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    // As many hops as Linux follows before `ELOOP`.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)?;
                path = match path.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Where `path` would be written: the end of its links, in its directory
/// made canonical (the file itself need not exist). `None` when that
/// directory cannot be resolved (writing there fails anyway), or for a
/// path that is no regular file (`/dev/null`, a pipe: written in place,
/// each output whole).
fn destination(path: &Path) -> Option<PathBuf> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return None;
    }
    let dest = resolve_links(path).ok()?;
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Some(dir.canonicalize().ok()?.join(dest.file_name()?))
}

fn run(args: &Args) -> Result<String, String> {
    // One file for both outputs would be staged twice in the same
    // temporary file: the table would replace the module, and the error
    // of the second rename would come after the first had put the table
    // at the module's path.
    if let Some(relocations) = &args.relocations
        && let (Some(a), Some(b)) = (destination(&args.output), destination(relocations))
        && a == b
    {
        return Err(format!(
            "`-o {}` and `--relocations {}` name the same file",
            args.output.display(),
            relocations.display()
        ));
    }
    // Nor may the table be written over the module being rebased (the
    // module's own path is the caller's choice: `-o IN` rewrites it in
    // place, whole or not at all); found by audit13.
    if let Some(relocations) = &args.relocations
        && let (Some(a), Some(b)) = (destination(&args.input), destination(relocations))
        && a == b
    {
        return Err(format!(
            "`--relocations {}` names the input `{}`",
            relocations.display(),
            args.input.display()
        ));
    }
    let wasm = std::fs::read(&args.input)
        .map_err(|e| format!("cannot read `{}`: {e}", args.input.display()))?;
    let out = rebase(&wasm, &args.options).map_err(|e| format!("{}: {e}", args.input.display()))?;
    let json = args
        .relocations
        .as_ref()
        .map(|_| relocations_json(&out.relocations));
    // The module first: it is what a build waits for.
    let mut outputs = vec![(args.output.as_path(), out.wasm.as_slice())];
    if let (Some(path), Some(json)) = (&args.relocations, &json) {
        outputs.push((path.as_path(), json.as_bytes()));
    }
    write_outputs(&outputs)?;
    let s = out.stats;
    let seg = args.options.segment;
    let report = format!(
        "{} -> {}: segment {:#x}..{:#x} ({:?}); {} of {} functions rewritten; {} memory \
         instructions, {} bounds checks, {} masks, {} elided (constant in-bounds addresses or \
         covered by an earlier check); {} data segments moved",
        args.input.display(),
        args.output.display(),
        seg.base,
        seg.base + seg.size,
        args.options.isolation,
        s.functions_rewritten,
        s.functions,
        s.instructions,
        s.checks,
        s.masks,
        s.elided,
        s.data_segments
    );
    Ok(report)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&args) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
