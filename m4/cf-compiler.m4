# CF_CHECK_CC_FLAG(FLAG, [ACTION-IF-OK], [ACTION-IF-NOT])
# Checks whether the C compiler accepts FLAG (with -Werror, so that an
# unknown warning option is not accepted silently).
AC_DEFUN([CF_CHECK_CC_FLAG],
[AS_VAR_PUSHDEF([cf_var], [cf_cv_cc_flag_$1])dnl
AC_CACHE_CHECK([whether $CC accepts $1], [cf_var],
  [cf_save_CFLAGS=$CFLAGS
   CFLAGS="$CFLAGS -Werror $1"
   AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
                     [AS_VAR_SET([cf_var], [yes])],
                     [AS_VAR_SET([cf_var], [no])])
   CFLAGS=$cf_save_CFLAGS])
AS_VAR_IF([cf_var], [yes], [$2], [$3])
AS_VAR_POPDEF([cf_var])dnl
])
