;; Audio: mixes a 4 KiB ring of 16-bit samples in its own memory; it is
;; granted no shared region.
(module
  (memory 1)

  ;; Sample i of a frame is frame + i; returns the last one.
  (func (export "mix") (param $frame i32) (result i32)
    (local $i i32)
    (loop $samples
      (i32.store16 (i32.shl (local.get $i) (i32.const 1))
        (i32.add (local.get $frame) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $samples (i32.lt_u (local.get $i) (i32.const 2048))))
    (i32.load16_u (i32.const 4094))))
