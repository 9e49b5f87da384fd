"""政务服务"好差评": residents rate a finished service; a 差评 is called back and put right."""
