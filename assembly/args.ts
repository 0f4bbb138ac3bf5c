// A kernel's arguments: the JS side (src/backend/wasm/index.ts) writes them as 4-byte slots
// into an args block in wasm memory, and each kernel reads slot i as an integer (pointers and
// sizes) or a float (scalars such as eps or lr).

@inline export function arg(args: usize, i: i32): i32 {
  return load<i32>(args + <usize>i * 4);
}

@inline export function argf(args: usize, i: i32): f32 {
  return load<f32>(args + <usize>i * 4);
}
