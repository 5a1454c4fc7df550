"""Model servers plancontrol starts itself: the embedded llama.cpp model and the scripted one."""
