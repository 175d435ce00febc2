# Public headers of conjflow's libraries, included as "conjflow/x.h".
# Add a header here when you add it to include/conjflow/.
noinst_HEADERS = $(srcdir)/include/conjflow/*.h
