using System.Text.Encodings.Web;
using System.Text.Json;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Artifacts;

/// <summary>
/// The JSON reports the stages write (reports/ingest.json, extract.json, the shard summaries): a
/// typed record serialized with snake_case keys in the record's order, indented, text as it is (a
/// file name's é or + unescaped, for the person who reads it), its checksum as the last member
/// (<see cref="JsonChecksum"/>), a newline at the end, written atomically. Reading refuses a file
/// whose checksum does not vouch for it, that lacks a field the record requires or holds null where
/// the record does not allow it.
/// </summary>
public static class ReportJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    public static string Serialize<T>(T report) => JsonChecksum.Add(JsonSerializer.Serialize(report, Options));

    public static void Write<T>(string path, T report) => AtomicFile.WriteAllText(path, Serialize(report));

    /// <summary>
    /// The report in a file, checked against its checksum: a <see cref="DamagedArtifactException"/> (with
    /// <paramref name="advice"/>) when the checksum fails or is absent, or when the checked text is not
    /// this record (a file of another version).
    /// </summary>
    public static T Read<T>(string path, string advice) where T : class
    {
        var text = JsonChecksum.ReadVerified(path, advice);
        try { return Parse<T>(text); }
        catch (JsonException e) { throw new DamagedArtifactException(path, ArtifactFault.OtherFormat, advice, e); }
    }

    /// <summary>The report in a file's text; a <see cref="JsonException"/> when it is not one.</summary>
    public static T Parse<T>(string json) where T : class =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new JsonException($"null instead of a {typeof(T).Name}");
}
