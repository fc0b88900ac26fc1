    KUBE-NODEPORTS     1 chain1
    KUBE-SERVICES      1 chain1
    KUBE-MARK-MASQ     1 chain1
    KUBE-POSTROUTING   1 chain1
    KUBE-SEP*          5 chain5
    KUBE-EXT*          1 chain1
    KUBE-SVC*          2 chain2
