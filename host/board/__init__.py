"""The board: the UART protocol (``wire`` layouts, ``protocol`` codec, ``client``), the firmware
build (``firmware``), and putting it on a board (``flash``: ``qemu`` or ``platformio``)."""
