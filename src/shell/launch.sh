# postmortem shell: start the user's shell with its integration marks. Run by /bin/sh -c; the
# integration is read from a here-document (bash) or a private temporary directory that its own
# .zshrc removes (zsh): nothing is installed, no rc file on disk is touched.
pm_sh=${SHELL:-/bin/sh}
case ${pm_sh##*/} in
bash)
  exec "$pm_sh" --rcfile /dev/fd/3 -i 3<<'PM_RC'
@BASH_RC@
PM_RC
  ;;
zsh)
  pm_d=$(mktemp -d "${TMPDIR:-/tmp}/postmortem-zsh.XXXXXX") || exit 1
  cat > "$pm_d/.zshrc" <<'PM_RC'
@ZSH_RC@
PM_RC
  printf '%s\n' '[[ -r ${PM_ZDOTDIR:-$HOME}/.zshenv ]] && . ${PM_ZDOTDIR:-$HOME}/.zshenv' > "$pm_d/.zshenv"
  PM_ZDOTDIR=${ZDOTDIR-} ZDOTDIR=$pm_d exec "$pm_sh" @LOGIN_FLAG@ -i
  ;;
esac
printf '\033]633;P;Shell=none;pm=@NONCE@\007'
exec "$pm_sh" @LOGIN_FLAG@ -i
