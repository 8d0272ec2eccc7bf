"""A protocol-faithful ComfyUI 0.3.64 simulator (no Django, no jobs imports).

It answers the HTTP routes and WebSocket frames of a real ComfyUI as recorded in
tests/fixtures/comfyui/traces, executes a handful of image nodes with Pillow, runs the
Stable Diffusion workflows on stand-ins for the models it is given (``--models``), and adds
fault and model controls under /_sim/. Start it with ``python -m simulator`` or, in tests,
``simulator.testing.running_simulator``.
"""

COMFYUI_VERSION = "0.3.64"
