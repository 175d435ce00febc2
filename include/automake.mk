# Public headers of conjflow's libraries, included as "conjflow/x.h".
# A module that adds a header lists it in its own directory's automake.mk
# with "noinst_HEADERS += include/conjflow/x.h".
noinst_HEADERS = \
	include/conjflow/cfutil.h \
	include/conjflow/cflow.h \
	include/conjflow/compiler.h \
	include/conjflow/evaluator.h \
	include/conjflow/manifest.h \
	include/conjflow/model.h \
	include/conjflow/store.h
