"""The WeChat transport over itchat (itchat-uos): the only package that imports itchat."""
