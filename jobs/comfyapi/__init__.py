"""The pool as one ComfyUI server: ComfyUI's own HTTP and WebSocket API on its own port.

Existing ComfyUI clients (comfy-api-simplified, Open WebUI, SillyTavern, comfy-cli's
`comfy run`, scripts from ComfyUI's examples) talk to `COMFYWEB_COMFYUI_PORT` as to one
ComfyUI server, and their prompts run on the pool like the page's jobs (docs/comfyui-endpoint.md).
A web-layer room beside jobs.web: it translates, and the rules live in jobs.core.
"""
