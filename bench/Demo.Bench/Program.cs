using Demo.Bench;

return args switch
{
    ["certs", var directory, .. var hosts] when hosts.Length > 0 => CertsCommand.Run(directory, hosts),
    ["mesh-certs", var directory, .. var identities] when identities.Length > 0 => MeshCertsCommand.Run(directory, identities),
    ["soak", .. var rest] => await SoakCommand.RunAsync(Arguments.Parse(rest)),
    ["report", .. var rest] => ReportCommand.Run(Arguments.Parse(rest)),
    ["scale-config", var directory, var count, .. var rest] when int.TryParse(count, out var services) && services > 0 =>
        ScaleConfigCommand.Run(directory, services, Arguments.Parse(rest)),
    ["scale-phases", var directory, .. var rest] => ScalePhasesCommand.Run(directory, Arguments.Parse(rest)),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("""
        usage:
          Demo.Bench certs <dir> <host>...
              creates a CA in <dir> and a server certificate per host; prints 'ca <path>' and '<host> <cert> <key>'
          Demo.Bench mesh-certs <dir> <namespace>/<service account>...
              a mesh CA (the gateway's own kind) and a workload certificate per identity; prints 'ca <path>' and
              '<ns>/<sa> <cert> <key>'
          Demo.Bench soak --url <u> --rate <rps> --duration <s> --warmup <s> [--watch name=pid]... [--out <json>]
                          [--rss-tolerance 0.2] [--rss-check growth|both] [--timeout <s>] [--connections <n>]
              paced open-loop GETs; exit 1 on any error, a missed rate, a dead process or RSS drift
          Demo.Bench report --raw <tsv> --out <json> [--meta key=value]...
              medians per path, ratios gateway/nginx, the table on stdout and the same as JSON
          Demo.Bench scale-config <dir> <services> [--fault-status 418] [--fault-percent 10] [--max-list-items 256]
              <services> external services in deploy/istio's pattern, one file per resource (service 0 is 'hello');
              the fault options set service 0's gateway routes; subsets and Gateway hosts split into lists of at
              most --max-list-items (0: one list each); prints how many files were written
          Demo.Bench scale-phases <dir> [--rounds 3]
              one revision of <dir> built in this process, phase by phase (load, analyze, translate, check, snapshot):
              the fastest round's milliseconds and allocated MB per phase, and the managed heap a revision keeps
        """);
    return 2;
}
