// Every class here starts a whole AppHost (5 processes and DCP); on a 2-core machine two at once starve each other.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
