;; Physics: moves 64 bodies kept in its own memory and publishes their
;; positions in the shared `frame_data` window, which it may write.
(module
  (import "shared" "frame_data" (memory $frame 1))
  (memory $own 1)

  ;; Body i moves by i each step; positions live at 1024 + 4*i. frame_data
  ;; gets the frame number at 0 and body i's position at 4 + 4*i.
  (func (export "step") (param $n i32)
    (local $i i32) (local $p i32)
    (loop $bodies
      (local.set $p (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2))))
      (i32.store $own (local.get $p) (i32.add (i32.load $own (local.get $p)) (local.get $i)))
      (i32.store $frame offset=4 (i32.shl (local.get $i) (i32.const 2))
        (i32.load $own (local.get $p)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $bodies (i32.lt_u (local.get $i) (i32.const 64))))
    (i32.store $frame (i32.const 0) (local.get $n)))

  ;; The bug on purpose: clears `len` bytes from `at`, one store at a time,
  ;; trusting its caller that they fit.
  (func (export "clear") (param $at i32) (param $len i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $at) (local.get $len)))
    (block $done
      (loop $bytes
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (i32.store8 $own (local.get $at) (i32.const 0xEE))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $bytes)))))
