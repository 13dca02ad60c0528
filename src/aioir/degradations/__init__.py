"""aioir.degradations"""
