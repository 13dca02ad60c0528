"""aioir.report"""
