"""aioir.config"""
