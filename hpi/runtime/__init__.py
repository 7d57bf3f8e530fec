"""The model-agnostic runtime: model dirs, devices, hpi_config, backends, converters, the selector, tuning and
quantization engines. It knows tensors and model files, never a task: tasks (hpi.tasks) hand it what it needs
(a workload to time or calibrate on) and a test checks that nothing here imports them.
"""
