namespace Demo.EgressGateway.Istio;

/// <summary>Istio's <c>exportTo</c> of a VirtualService, ServiceEntry or DestinationRule (istio/istio pkg/config/visibility).</summary>
public static class ExportTo
{
    /// <summary>Istio's <c>exportTo</c>: empty or <c>*</c> = everywhere, <c>.</c> = the owner's namespace, <c>~</c> = nowhere.</summary>
    public static bool Reaches(IReadOnlyList<string> exportTo, string ownerNamespace, string viewerNamespace)
    {
        if (exportTo.Count == 0)
        {
            return true;
        }
        foreach (var target in exportTo)
        {
            if (target == "*" || target == viewerNamespace || (target == "." && ownerNamespace == viewerNamespace))
            {
                return true;
            }
        }
        return false;
    }
}
