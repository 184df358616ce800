"""A project's generations: every successful build recorded (spec, lock, layers, time), for
`devbox history`, `devbox rollback` and what gc keeps."""
