# controller/: the cluster model, the NetworkPolicy compiler, the reference
# evaluator and the flow interpreter (pure C), and conjflowd's main().

# The model and small utilities: used by every program.
noinst_LTLIBRARIES += controller/libcfmodel.la
controller_libcfmodel_la_SOURCES = \
	controller/cfutil.c \
	controller/model.c
