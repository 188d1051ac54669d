"""The code that runs INSIDE the student's sandboxed kernel process when a notebook is graded.

Nothing here is trusted by the grader: student code shares this process and can change any of it.
These modules import only the standard library, numpy, torch and IPython; the grader sends their
source into the sandbox (autograder/kernels.py), which cannot see the autograder folder.

  frames   one framing of messages, used by both sides (length-prefixed header and raw buffers)
  encode   values leaving the kernel: plain data as JSON and raw buffers, everything else by handle
  requests requests arriving from the trusted side (pickles: it is trusted that way round)
  ops      what a request asks (calls, attributes, operators, isinstance...), and write-back
  server   the kernel's side of the RPC: messages, handles, linked tensors, callbacks
  shell    an IPython shell that runs the notebook's cells and keeps their outputs
  guard    a second line that flags: takes trusted copies once, reports what notebook code replaced
  zygote   imports torch once, then forks one fresh kernel per submission and cleans up after it
"""
