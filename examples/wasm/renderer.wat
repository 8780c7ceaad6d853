;; Renderer: reads the frame's positions from the shared `frame_data`
;; window (granted `read`: it only loads from it) into a draw list in its
;; own memory.
(module
  (import "shared" "frame_data" (memory $frame 1))
  (memory $own 2)

  ;; Copies the 64 positions to the draw list at 0 and returns their sum.
  (func (export "draw") (result i32)
    (local $i i32) (local $x i32) (local $sum i32)
    (loop $bodies
      (local.set $x (i32.load $frame offset=4 (i32.shl (local.get $i) (i32.const 2))))
      (i32.store $own (i32.shl (local.get $i) (i32.const 2)) (local.get $x))
      (local.set $sum (i32.add (local.get $sum) (local.get $x)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $bodies (i32.lt_u (local.get $i) (i32.const 64))))
    (local.get $sum))

  ;; The frame number physics published last.
  (func (export "frame") (result i32)
    (i32.load $frame (i32.const 0))))
