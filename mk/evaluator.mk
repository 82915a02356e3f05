# evaluator.mk — the evaluator, the policy library (common/policy*.c, libyaml) and their tests.
# (No rules here: a rule in an included file would become make's default goal.)
LDLIBS_evaluator += -lyaml -lpthread
LDLIBS_cli += -lyaml
# Unit tests of the policy parser need libyaml; the generic test rule links only the base.
$(B)/tests/test_policy: LDLIBS_BASE += -lyaml
$(B)/tests/test_policy_library: LDLIBS_BASE += -lyaml
