using Onnx;

namespace BottleneckPipeline.Quantization;

/// <summary>Who writes and who reads each tensor of a graph: the map the quantization rewrites walk.</summary>
internal sealed class GraphLinks
{
    public Dictionary<string, NodeProto> Producer { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, List<NodeProto>> Consumers { get; } = new(StringComparer.Ordinal);

    public static GraphLinks Of(GraphProto graph)
    {
        var links = new GraphLinks();
        foreach (var n in graph.Node)
        {
            foreach (var o in n.Output) links.Producer[o] = n;
            foreach (var i in n.Input)
            {
                if (!links.Consumers.TryGetValue(i, out var list)) links.Consumers[i] = list = [];
                list.Add(n);
            }
        }
        return links;
    }
}
