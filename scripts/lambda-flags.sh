# Sourced by scripts/build-lambda.sh and scripts/lambda-init.sh: the compiler flags of the Lambda
# builds that a Cargo profile cannot carry (profile rustflags are unstable).
#
# -C force-unwind-tables=no: panics abort in the `lambda` profile (Cargo.toml), so nothing
# unwinds; Rust code needs no unwind tables (the standard library and the C parts keep theirs,
# most of .eh_frame).
#
# Not here: -C relocation-model=static (a non-PIE bootstrap without its 0.4 MB of relative
# relocations) fails to build, as crc-fast (aws-smithy-checksums) also builds a cdylib; LLD's
# identical code folding (-Wl,--icf=all, 2% of the API bootstrap) is refused by cargo-lambda's
# zig linker.
#
# Applied to the target only: the scripts pass --target, so build scripts and proc macros
# (which run inside the unwinding compiler) are built as usual.
LAMBDA_RUSTFLAGS="-C force-unwind-tables=no"
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }$LAMBDA_RUSTFLAGS"
