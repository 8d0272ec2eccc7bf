"""/object_info entries of the Stable Diffusion nodes the simulator stands in for.

Generated from ComfyUI a125cd84 (the 0.3.64 install of the traces): the classic entries by
running server.py node_info over nodes.py's INPUT_TYPES with an empty model folder, the V3
ones (ImageScaleToTotalPixels, UpscaleModelLoader, ImageUpscaleWithModel) by applying
comfy_api/latest/_io.py Schema.get_v1_info to their define_schema. Model file lists are
empty here; simulator.object_info fills them from the instance's model set at request time.
"""

from __future__ import annotations

from typing import Any

# comfy/samplers.py KSampler.SAMPLERS and SCHEDULERS.
SAMPLERS: list[str] = [
    "euler",
    "euler_cfg_pp",
    "euler_ancestral",
    "euler_ancestral_cfg_pp",
    "heun",
    "heunpp2",
    "dpm_2",
    "dpm_2_ancestral",
    "lms",
    "dpm_fast",
    "dpm_adaptive",
    "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde",
    "dpmpp_sde_gpu",
    "dpmpp_2m",
    "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu",
    "dpmpp_2m_sde_heun",
    "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde",
    "dpmpp_3m_sde_gpu",
    "ddpm",
    "lcm",
    "ipndm",
    "ipndm_v",
    "deis",
    "res_multistep",
    "res_multistep_cfg_pp",
    "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp",
    "gradient_estimation",
    "gradient_estimation_cfg_pp",
    "er_sde",
    "seeds_2",
    "seeds_3",
    "sa_solver",
    "sa_solver_pece",
    "ddim",
    "uni_pc",
    "uni_pc_bh2",
]
SCHEDULERS: list[str] = [
    "simple",
    "sgm_uniform",
    "karras",
    "exponential",
    "ddim_uniform",
    "beta",
    "normal",
    "linear_quadratic",
    "kl_optimal",
]

SD_NODE_INFO: dict[str, dict[str, Any]] = {
    "CLIPTextEncode": {
        "input": {
            "required": {
                "text": [
                    "STRING",
                    {"multiline": True, "dynamicPrompts": True, "tooltip": "The text to be encoded."},
                ],
                "clip": ["CLIP", {"tooltip": "The CLIP model used for encoding the text."}],
            }
        },
        "input_order": {"required": ["text", "clip"]},
        "output": ["CONDITIONING"],
        "output_is_list": [False],
        "output_name": ["CONDITIONING"],
        "name": "CLIPTextEncode",
        "display_name": "CLIP Text Encode (Prompt)",
        "description": "Encodes a text prompt using a CLIP model into an embedding "
        "that can be used to guide the diffusion model towards "
        "generating specific images.",
        "python_module": "nodes",
        "category": "conditioning",
        "output_node": False,
        "output_tooltips": ["A conditioning containing the embedded text used to guide the diffusion model."],
    },
    "VAEDecode": {
        "input": {
            "required": {
                "samples": ["LATENT", {"tooltip": "The latent to be decoded."}],
                "vae": ["VAE", {"tooltip": "The VAE model used for decoding the latent."}],
            }
        },
        "input_order": {"required": ["samples", "vae"]},
        "output": ["IMAGE"],
        "output_is_list": [False],
        "output_name": ["IMAGE"],
        "name": "VAEDecode",
        "display_name": "VAE Decode",
        "description": "Decodes latent images back into pixel space images.",
        "python_module": "nodes",
        "category": "latent",
        "output_node": False,
        "output_tooltips": ["The decoded image."],
    },
    "VAEEncode": {
        "input": {"required": {"pixels": ["IMAGE"], "vae": ["VAE"]}},
        "input_order": {"required": ["pixels", "vae"]},
        "output": ["LATENT"],
        "output_is_list": [False],
        "output_name": ["LATENT"],
        "name": "VAEEncode",
        "display_name": "VAE Encode",
        "description": "",
        "python_module": "nodes",
        "category": "latent",
        "output_node": False,
    },
    "VAEEncodeForInpaint": {
        "input": {
            "required": {
                "pixels": ["IMAGE"],
                "vae": ["VAE"],
                "mask": ["MASK"],
                "grow_mask_by": ["INT", {"default": 6, "min": 0, "max": 64, "step": 1}],
            }
        },
        "input_order": {"required": ["pixels", "vae", "mask", "grow_mask_by"]},
        "output": ["LATENT"],
        "output_is_list": [False],
        "output_name": ["LATENT"],
        "name": "VAEEncodeForInpaint",
        "display_name": "VAE Encode (for Inpainting)",
        "description": "",
        "python_module": "nodes",
        "category": "latent/inpaint",
        "output_node": False,
    },
    "CheckpointLoaderSimple": {
        "input": {
            "required": {"ckpt_name": [[], {"tooltip": "The name of the checkpoint (model) to load."}]}
        },
        "input_order": {"required": ["ckpt_name"]},
        "output": ["MODEL", "CLIP", "VAE"],
        "output_is_list": [False, False, False],
        "output_name": ["MODEL", "CLIP", "VAE"],
        "name": "CheckpointLoaderSimple",
        "display_name": "Load Checkpoint",
        "description": "Loads a diffusion model checkpoint, diffusion models are used to denoise latents.",
        "python_module": "nodes",
        "category": "loaders",
        "output_node": False,
        "output_tooltips": [
            "The model used for denoising latents.",
            "The CLIP model used for encoding text prompts.",
            "The VAE model used for encoding and decoding images to and from latent space.",
        ],
    },
    "LoraLoader": {
        "input": {
            "required": {
                "model": ["MODEL", {"tooltip": "The diffusion model the LoRA will be applied to."}],
                "clip": ["CLIP", {"tooltip": "The CLIP model the LoRA will be applied to."}],
                "lora_name": [[], {"tooltip": "The name of the LoRA."}],
                "strength_model": [
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": -100.0,
                        "max": 100.0,
                        "step": 0.01,
                        "tooltip": "How strongly to modify the diffusion model. This value can be negative.",
                    },
                ],
                "strength_clip": [
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": -100.0,
                        "max": 100.0,
                        "step": 0.01,
                        "tooltip": "How strongly to modify the CLIP model. This value can be negative.",
                    },
                ],
            }
        },
        "input_order": {"required": ["model", "clip", "lora_name", "strength_model", "strength_clip"]},
        "output": ["MODEL", "CLIP"],
        "output_is_list": [False, False],
        "output_name": ["MODEL", "CLIP"],
        "name": "LoraLoader",
        "display_name": "Load LoRA",
        "description": "LoRAs are used to modify diffusion and CLIP models, altering the "
        "way in which latents are denoised such as applying styles. "
        "Multiple LoRA nodes can be linked together.",
        "python_module": "nodes",
        "category": "loaders",
        "output_node": False,
        "output_tooltips": ["The modified diffusion model.", "The modified CLIP model."],
    },
    "LoraLoaderModelOnly": {
        "input": {
            "required": {
                "model": ["MODEL"],
                "lora_name": [[]],
                "strength_model": ["FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01}],
            }
        },
        "input_order": {"required": ["model", "lora_name", "strength_model"]},
        "output": ["MODEL"],
        "output_is_list": [False],
        "output_name": ["MODEL"],
        "name": "LoraLoaderModelOnly",
        "display_name": "LoraLoaderModelOnly",
        "description": "LoRAs are used to modify diffusion and CLIP models, "
        "altering the way in which latents are denoised such as "
        "applying styles. Multiple LoRA nodes can be linked "
        "together.",
        "python_module": "nodes",
        "category": "loaders",
        "output_node": False,
        "output_tooltips": ["The modified diffusion model.", "The modified CLIP model."],
    },
    "VAELoader": {
        "input": {"required": {"vae_name": [["pixel_space"]]}},
        "input_order": {"required": ["vae_name"]},
        "output": ["VAE"],
        "output_is_list": [False],
        "output_name": ["VAE"],
        "name": "VAELoader",
        "display_name": "Load VAE",
        "description": "",
        "python_module": "nodes",
        "category": "loaders",
        "output_node": False,
    },
    "ControlNetLoader": {
        "input": {"required": {"control_net_name": [[]]}},
        "input_order": {"required": ["control_net_name"]},
        "output": ["CONTROL_NET"],
        "output_is_list": [False],
        "output_name": ["CONTROL_NET"],
        "name": "ControlNetLoader",
        "display_name": "Load ControlNet Model",
        "description": "",
        "python_module": "nodes",
        "category": "loaders",
        "output_node": False,
    },
    "UNETLoader": {
        "input": {
            "required": {
                "unet_name": [[]],
                "weight_dtype": [["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]],
            }
        },
        "input_order": {"required": ["unet_name", "weight_dtype"]},
        "output": ["MODEL"],
        "output_is_list": [False],
        "output_name": ["MODEL"],
        "name": "UNETLoader",
        "display_name": "Load Diffusion Model",
        "description": "",
        "python_module": "nodes",
        "category": "advanced/loaders",
        "output_node": False,
    },
    "CLIPLoader": {
        "input": {
            "required": {
                "clip_name": [[]],
                "type": [
                    [
                        "stable_diffusion",
                        "stable_cascade",
                        "sd3",
                        "stable_audio",
                        "mochi",
                        "ltxv",
                        "pixart",
                        "cosmos",
                        "lumina2",
                        "wan",
                        "hidream",
                        "chroma",
                        "ace",
                        "omnigen2",
                        "qwen_image",
                        "hunyuan_image",
                    ]
                ],
            },
            "optional": {"device": [["default", "cpu"], {"advanced": True}]},
        },
        "input_order": {"required": ["clip_name", "type"], "optional": ["device"]},
        "output": ["CLIP"],
        "output_is_list": [False],
        "output_name": ["CLIP"],
        "name": "CLIPLoader",
        "display_name": "Load CLIP",
        "description": "[Recipes]\n"
        "\n"
        "stable_diffusion: clip-l\n"
        "stable_cascade: clip-g\n"
        "sd3: t5 xxl/ clip-g / clip-l\n"
        "stable_audio: t5 base\n"
        "mochi: t5 xxl\n"
        "cosmos: old t5 xxl\n"
        "lumina2: gemma 2 2B\n"
        "wan: umt5 xxl\n"
        " hidream: llama-3.1 (Recommend) or t5\n"
        "omnigen2: qwen vl 2.5 3B",
        "python_module": "nodes",
        "category": "advanced/loaders",
        "output_node": False,
    },
    "DualCLIPLoader": {
        "input": {
            "required": {
                "clip_name1": [[]],
                "clip_name2": [[]],
                "type": [["sdxl", "sd3", "flux", "hunyuan_video", "hidream", "hunyuan_image"]],
            },
            "optional": {"device": [["default", "cpu"], {"advanced": True}]},
        },
        "input_order": {"required": ["clip_name1", "clip_name2", "type"], "optional": ["device"]},
        "output": ["CLIP"],
        "output_is_list": [False],
        "output_name": ["CLIP"],
        "name": "DualCLIPLoader",
        "display_name": "DualCLIPLoader",
        "description": "[Recipes]\n"
        "\n"
        "sdxl: clip-l, clip-g\n"
        "sd3: clip-l, clip-g / clip-l, t5 / clip-g, t5\n"
        "flux: clip-l, t5\n"
        "hidream: at least one of t5 or llama, recommended t5 and "
        "llama\n"
        "hunyuan_image: qwen2.5vl 7b and byt5 small",
        "python_module": "nodes",
        "category": "advanced/loaders",
        "output_node": False,
    },
    "CLIPVisionLoader": {
        "input": {"required": {"clip_name": [[]]}},
        "input_order": {"required": ["clip_name"]},
        "output": ["CLIP_VISION"],
        "output_is_list": [False],
        "output_name": ["CLIP_VISION"],
        "name": "CLIPVisionLoader",
        "display_name": "Load CLIP Vision",
        "description": "",
        "python_module": "nodes",
        "category": "loaders",
        "output_node": False,
    },
    "EmptyLatentImage": {
        "input": {
            "required": {
                "width": [
                    "INT",
                    {
                        "default": 512,
                        "min": 16,
                        "max": 16384,
                        "step": 8,
                        "tooltip": "The width of the latent images in pixels.",
                    },
                ],
                "height": [
                    "INT",
                    {
                        "default": 512,
                        "min": 16,
                        "max": 16384,
                        "step": 8,
                        "tooltip": "The height of the latent images in pixels.",
                    },
                ],
                "batch_size": [
                    "INT",
                    {
                        "default": 1,
                        "min": 1,
                        "max": 4096,
                        "tooltip": "The number of latent images in the batch.",
                    },
                ],
            }
        },
        "input_order": {"required": ["width", "height", "batch_size"]},
        "output": ["LATENT"],
        "output_is_list": [False],
        "output_name": ["LATENT"],
        "name": "EmptyLatentImage",
        "display_name": "Empty Latent Image",
        "description": "Create a new batch of empty latent images to be denoised via sampling.",
        "python_module": "nodes",
        "category": "latent",
        "output_node": False,
        "output_tooltips": ["The empty latent image batch."],
    },
    "LatentUpscale": {
        "input": {
            "required": {
                "samples": ["LATENT"],
                "upscale_method": [["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]],
                "width": ["INT", {"default": 512, "min": 0, "max": 16384, "step": 8}],
                "height": ["INT", {"default": 512, "min": 0, "max": 16384, "step": 8}],
                "crop": [["disabled", "center"]],
            }
        },
        "input_order": {"required": ["samples", "upscale_method", "width", "height", "crop"]},
        "output": ["LATENT"],
        "output_is_list": [False],
        "output_name": ["LATENT"],
        "name": "LatentUpscale",
        "display_name": "Upscale Latent",
        "description": "",
        "python_module": "nodes",
        "category": "latent",
        "output_node": False,
    },
    "KSampler": {
        "input": {
            "required": {
                "model": ["MODEL", {"tooltip": "The model used for denoising the input latent."}],
                "seed": [
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": 18446744073709551615,
                        "control_after_generate": True,
                        "tooltip": "The random seed used for creating the noise.",
                    },
                ],
                "steps": [
                    "INT",
                    {
                        "default": 20,
                        "min": 1,
                        "max": 10000,
                        "tooltip": "The number of steps used in the denoising process.",
                    },
                ],
                "cfg": [
                    "FLOAT",
                    {
                        "default": 8.0,
                        "min": 0.0,
                        "max": 100.0,
                        "step": 0.1,
                        "round": 0.01,
                        "tooltip": "The Classifier-Free Guidance scale "
                        "balances creativity and adherence to the "
                        "prompt. Higher values result in images "
                        "more closely matching the prompt however "
                        "too high values will negatively impact "
                        "quality.",
                    },
                ],
                "sampler_name": [
                    SAMPLERS,
                    {
                        "tooltip": "The algorithm used when "
                        "sampling, this can affect the "
                        "quality, speed, and style of "
                        "the generated output."
                    },
                ],
                "scheduler": [
                    SCHEDULERS,
                    {"tooltip": "The scheduler controls how noise is gradually removed to form the image."},
                ],
                "positive": [
                    "CONDITIONING",
                    {
                        "tooltip": "The conditioning describing the "
                        "attributes you want to include in "
                        "the image."
                    },
                ],
                "negative": [
                    "CONDITIONING",
                    {
                        "tooltip": "The conditioning describing the "
                        "attributes you want to exclude from "
                        "the image."
                    },
                ],
                "latent_image": ["LATENT", {"tooltip": "The latent image to denoise."}],
                "denoise": [
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": "The amount of denoising applied, "
                        "lower values will maintain the "
                        "structure of the initial image "
                        "allowing for image to image "
                        "sampling.",
                    },
                ],
            }
        },
        "input_order": {
            "required": [
                "model",
                "seed",
                "steps",
                "cfg",
                "sampler_name",
                "scheduler",
                "positive",
                "negative",
                "latent_image",
                "denoise",
            ]
        },
        "output": ["LATENT"],
        "output_is_list": [False],
        "output_name": ["LATENT"],
        "name": "KSampler",
        "display_name": "KSampler",
        "description": "Uses the provided model, positive and negative conditioning to "
        "denoise the latent image.",
        "python_module": "nodes",
        "category": "sampling",
        "output_node": False,
        "output_tooltips": ["The denoised latent."],
    },
    "KSamplerAdvanced": {
        "input": {
            "required": {
                "model": ["MODEL"],
                "add_noise": [["enable", "disable"]],
                "noise_seed": [
                    "INT",
                    {"default": 0, "min": 0, "max": 18446744073709551615, "control_after_generate": True},
                ],
                "steps": ["INT", {"default": 20, "min": 1, "max": 10000}],
                "cfg": ["FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01}],
                "sampler_name": [SAMPLERS],
                "scheduler": [SCHEDULERS],
                "positive": ["CONDITIONING"],
                "negative": ["CONDITIONING"],
                "latent_image": ["LATENT"],
                "start_at_step": ["INT", {"default": 0, "min": 0, "max": 10000}],
                "end_at_step": ["INT", {"default": 10000, "min": 0, "max": 10000}],
                "return_with_leftover_noise": [["disable", "enable"]],
            }
        },
        "input_order": {
            "required": [
                "model",
                "add_noise",
                "noise_seed",
                "steps",
                "cfg",
                "sampler_name",
                "scheduler",
                "positive",
                "negative",
                "latent_image",
                "start_at_step",
                "end_at_step",
                "return_with_leftover_noise",
            ]
        },
        "output": ["LATENT"],
        "output_is_list": [False],
        "output_name": ["LATENT"],
        "name": "KSamplerAdvanced",
        "display_name": "KSampler (Advanced)",
        "description": "",
        "python_module": "nodes",
        "category": "sampling",
        "output_node": False,
    },
    "ImageScaleToTotalPixels": {
        "input": {
            "required": {
                "image": ["IMAGE", {}],
                "upscale_method": [
                    "COMBO",
                    {
                        "multiselect": False,
                        "options": ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"],
                    },
                ],
                "megapixels": ["FLOAT", {"default": 1.0, "min": 0.01, "max": 16.0, "step": 0.01}],
            }
        },
        "input_order": {"required": ["image", "upscale_method", "megapixels"]},
        "output": ["IMAGE"],
        "output_is_list": [False],
        "output_name": ["IMAGE"],
        "output_tooltips": [None],
        "name": "ImageScaleToTotalPixels",
        "display_name": None,
        "description": "",
        "python_module": "comfy_extras.nodes_post_processing",
        "category": "image/upscaling",
        "output_node": False,
        "deprecated": False,
        "experimental": False,
        "api_node": False,
    },
    "UpscaleModelLoader": {
        "input": {"required": {"model_name": ["COMBO", {"multiselect": False, "options": []}]}},
        "input_order": {"required": ["model_name"]},
        "output": ["UPSCALE_MODEL"],
        "output_is_list": [False],
        "output_name": ["UPSCALE_MODEL"],
        "output_tooltips": [None],
        "name": "UpscaleModelLoader",
        "display_name": "Load Upscale Model",
        "description": "",
        "python_module": "comfy_extras.nodes_upscale_model",
        "category": "loaders",
        "output_node": False,
        "deprecated": False,
        "experimental": False,
        "api_node": False,
    },
    "ImageUpscaleWithModel": {
        "input": {"required": {"upscale_model": ["UPSCALE_MODEL", {}], "image": ["IMAGE", {}]}},
        "input_order": {"required": ["upscale_model", "image"]},
        "output": ["IMAGE"],
        "output_is_list": [False],
        "output_name": ["IMAGE"],
        "output_tooltips": [None],
        "name": "ImageUpscaleWithModel",
        "display_name": "Upscale Image (using Model)",
        "description": "",
        "python_module": "comfy_extras.nodes_upscale_model",
        "category": "image/upscaling",
        "output_node": False,
        "deprecated": False,
        "experimental": False,
        "api_node": False,
    },
}
