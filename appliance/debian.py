"""The Debian release and mirror that the appliance image and the test guests are built from."""

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
