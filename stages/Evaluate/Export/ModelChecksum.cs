using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Artifacts;

namespace BottleneckPipeline.Evaluate.Export;

/// <summary>
/// model.onnx's own checksum, so the file alone can be checked wherever it is copied (predict --model):
/// the metadata entry <c>content_sha256</c>, the SHA-256 of the file with that value's 64 characters
/// read as '0's. The entry is the model's last metadata property, and metadata_props follows the graph
/// in the file, so finding it is a search from the end; the check reads the file's bytes, not the parsed
/// model, so it holds whatever the runtime makes of them.
/// </summary>
internal static class ModelChecksum
{
    public const string Key = "content_sha256";
    private const int HexLength = 64;

    /// <summary>The entry as protobuf writes it, up to its value: key field (tag 1, length, text), value field (tag 2, length 64).</summary>
    private static readonly byte[] Marker = [0x0A, (byte)Key.Length, .. Encoding.ASCII.GetBytes(Key), 0x12, HexLength];

    /// <summary>The placeholder value the exporter writes, then replaces with the checksum.</summary>
    public static string Placeholder { get; } = new('0', HexLength);

    /// <summary>A serialized model whose last metadata entry is <see cref="Key"/> = <see cref="Placeholder"/>, with the checksum in its place.</summary>
    public static byte[] Seal(byte[] model)
    {
        var at = ValueAt(model) ?? throw new InvalidOperationException($"the exported model has no '{Key}' metadata entry to seal");
        if (!model.AsSpan(at, HexLength).SequenceEqual(Encoding.ASCII.GetBytes(Placeholder)))
            throw new InvalidOperationException($"'{Key}' is not the placeholder");
        Encoding.ASCII.GetBytes(Sha256.Of(model)).CopyTo(model, at);
        return model;
    }

    /// <summary>What is wrong with a model file's bytes; null when its own checksum vouches for them.</summary>
    public static ArtifactFault? Check(byte[] file)
    {
        if (ValueAt(file) is not { } at) return ArtifactFault.Unverifiable;
        var recorded = Encoding.ASCII.GetString(file, at, HexLength);
        var copy = (byte[])file.Clone();
        Encoding.ASCII.GetBytes(Placeholder).CopyTo(copy, at);
        return string.Equals(Sha256.Of(copy), recorded, StringComparison.Ordinal) ? null : ArtifactFault.Damaged;
    }

    private static int? ValueAt(byte[] model)
    {
        var at = model.AsSpan().LastIndexOf(Marker);
        return at < 0 || at + Marker.Length + HexLength > model.Length ? null : at + Marker.Length;
    }
}
