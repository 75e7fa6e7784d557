"""Volume backends behind one contract (drivers/base.py): fake, file (qemu-img) and LVM thin."""
