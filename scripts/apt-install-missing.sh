# Sourced by the install-*-deps.sh scripts: apt_install_missing WHO PACKAGE... installs, with apt, those of
# the Debian packages that are not installed yet (apt-get update first; sudo when not root). Fast when
# everything is there: dpkg-query only.
apt_install_missing() {
  local who="$1"
  shift
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  ((${#missing[@]})) || return 0
  echo "$who: installing ${missing[*]}"
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
