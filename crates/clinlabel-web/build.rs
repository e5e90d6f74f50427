//! Builds the web app (`web/`) with npm so that `cargo build` on a fresh clone
//! yields a binary serving the complete, current app with no other step.
//!
//! - `npm ci` runs when `web/node_modules` is missing or was installed from a
//!   different `package-lock.json` (a copy of the lock file it was installed
//!   from is kept in `node_modules/.clinlabel-installed-lock.json`).
//! - `npm run build` (type check + Vite) runs whenever cargo reruns this
//!   script, i.e. when anything under `web/src`, `web/public`, `index.html`,
//!   `package*.json`, the Vite or TypeScript config changed. Its output goes to
//!   `$OUT_DIR/dist` (one per target directory and profile, so concurrent
//!   builds never share it), which `src/lib.rs` embeds with `rust-embed`
//!   through the generated `$OUT_DIR/dist.rs`.
//! - Builds of several target directories share `web/node_modules`: an
//!   exclusive lock on `web/.build.lock` serialises the npm steps.
//!
//! invariant: this script never writes inside the paths it watches (cargo would
//! rerun it on every build otherwise).

use std::path::{Path, PathBuf};
use std::process::Command;

const WATCHED: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let web = manifest
        .join("../../web")
        .canonicalize()
        .unwrap_or_else(|e| {
            panic!(
                "clinlabel-web: cannot find the web app next to the crate ({}): {e}",
                manifest.join("../../web").display()
            )
        });
    for p in WATCHED {
        // A missing path would count as changed on every build: watch what exists
        // (a new `public/` folder is picked up once anything else watched changes).
        if web.join(p).exists() {
            println!("cargo:rerun-if-changed={}", web.join(p).display());
        }
    }
    println!("cargo:rerun-if-env-changed=CLINLABEL_NPM");

    let npm = std::env::var("CLINLABEL_NPM").unwrap_or_else(|_| "npm".to_string());
    match Command::new(&npm).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "\n\nclinlabel-web: building the web app needs Node.js (20.19 or newer) and npm, and `{npm}` was not found or \
             does not run.\nInstall Node.js (e.g. `apt-get install nodejs npm`, or from https://nodejs.org), or point \
             CLINLABEL_NPM at an npm executable, then run cargo again.\n\n"
        ),
    }

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let dist = out.join("dist");

    let guard = std::fs::File::create(web.join(".build.lock"))
        .unwrap_or_else(|e| panic!("clinlabel-web: cannot create web/.build.lock: {e}"));
    guard
        .lock()
        .unwrap_or_else(|e| panic!("clinlabel-web: cannot lock web/.build.lock: {e}"));

    let lock = web.join("package-lock.json");
    let stamp = web.join("node_modules/.clinlabel-installed-lock.json");
    let lock_bytes = std::fs::read(&lock)
        .unwrap_or_else(|e| panic!("clinlabel-web: cannot read {}: {e}", lock.display()));
    let installed = std::fs::read(&stamp).ok();
    if installed.as_deref() != Some(lock_bytes.as_slice()) {
        run(
            &npm,
            &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
            &web,
            "install the web app's dependencies",
        );
        std::fs::write(&stamp, &lock_bytes)
            .unwrap_or_else(|e| panic!("clinlabel-web: cannot write {}: {e}", stamp.display()));
    }
    let dist_arg = dist.to_str().expect("OUT_DIR is UTF-8");
    run(
        &npm,
        &[
            "run",
            "build",
            "--silent",
            "--",
            "--outDir",
            dist_arg,
            "--emptyOutDir",
        ],
        &web,
        "build the web app",
    );
    drop(guard);

    let index = dist.join("index.html");
    if !index.is_file() {
        panic!(
            "clinlabel-web: `npm run build` succeeded but {} is missing",
            index.display()
        );
    }
    // rust-embed takes a literal folder: hand it the absolute path through a generated file.
    let code = format!(
        "#[derive(rust_embed::Embed)]\n#[folder = {:?}]\nstruct Dist;\n",
        dist_arg
    );
    std::fs::write(out.join("dist.rs"), code)
        .unwrap_or_else(|e| panic!("clinlabel-web: cannot write dist.rs: {e}"));
}

fn run(npm: &str, args: &[&str], dir: &Path, what: &str) {
    let status = Command::new(npm)
        .args(args)
        .current_dir(dir)
        // Playwright is a dev dependency for the browser tests; they use Debian's Chromium.
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .env("NO_COLOR", "1")
        .status()
        .unwrap_or_else(|e| panic!("clinlabel-web: cannot run `{npm} {}`: {e}", args.join(" ")));
    if !status.success() {
        panic!(
            "\n\nclinlabel-web: `{npm} {}` in {} failed ({status}): could not {what}. The output above names the problem.\n\n",
            args.join(" "),
            dir.display()
        );
    }
}
