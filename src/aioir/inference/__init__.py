"""aioir.inference"""
