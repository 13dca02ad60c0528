"""aioir.data"""
