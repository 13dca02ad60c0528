"""aioir.engine"""
