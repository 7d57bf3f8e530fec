"""The app's endpoints, one router per family (each module's `router()`), each endpoint taking the app's shared
state through dependencies (deps.py):

    text_recognition   POST /text-recognition
    ocr                POST /ocr (only in an app made with an OCR pipeline)
    health             GET /health, /ready, /metrics
    page               GET /

A router is made when create_app asks for it: fastapi is imported then, never when these modules are (a core
install, without the serve extra, imports every module of hpi).
"""
