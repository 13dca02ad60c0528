"""aioir.metrics"""
