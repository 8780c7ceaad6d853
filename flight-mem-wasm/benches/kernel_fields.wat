;; A variant of the hash-count kernel of benches/rebase.rs with two fields
;; per 8-byte slot: a count at offset 4 (loaded, incremented, stored) and
;; the last key at offset 0, both through the address local $a. Rebased
;; `masked` into a 4 MiB segment (memory maximum 3 MiB, no headroom), the
;; count's clamp also serves the key's smaller extent (session 7): one
;; confinement per iteration instead of two. Run by hand (BENCHMARKS.md,
;; "Run-time cost, session 7"):
;;   wasm-as kernel_fields.wat -o kernel_fields.wasm
;;   flight-rebase kernel_fields.wasm -o k.wasm --segment 0x10000:4MiB --isolation masked
;;   FLIGHT_BENCH_ICOUNT=k.wasm:N <rebase bench binary>
(module
  (memory 48 48)
  (func (export "run") (param $n i32) (result i32)
    (local $x i32) (local $i i32) (local $a i32) (local $sum i32)
    (local.set $x (i32.const 12345))
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
      (local.set $a (i32.shl (i32.and (i32.shr_u (local.get $x) (i32.const 8)) (i32.const 0x3ffff)) (i32.const 3)))
      (i32.store offset=4 (local.get $a) (i32.add (i32.load offset=4 (local.get $a)) (i32.const 1)))
      (i32.store (local.get $a) (local.get $x))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.set $i (i32.const 0))
    (loop $s
      (local.set $sum (i32.add (local.get $sum) (i32.load8_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $s (i32.lt_u (local.get $i) (i32.const 1048576))))
    (local.get $sum)))
