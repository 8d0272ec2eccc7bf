"""`make bench`: ComfyWeb measured against direct ComfyUI clients and bare forwarding floors."""
