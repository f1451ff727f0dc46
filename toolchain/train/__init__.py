"""On-device training (sparse update): the numerics of the parameter update, shared by the compiler (numpy, the
reference) and the generated C (runtime/edgec_train.h). The training graph, its backward rules and the
`edgec train` command build on these; docs/training.md states the contract."""
