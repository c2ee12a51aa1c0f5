"""The public catalogue as JSON (the same filters as the page), and the open data for other city portals."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import FromPath, QueryParameter

from familienkarte import i18n
from familienkarte.accounts.api_key_schemas import Problem
from familienkarte.accounts.guards import PUBLIC_OPT
from familienkarte.benefits.rules import LocalText
from familienkarte.benefits.views import BenefitCard
from familienkarte.catalogue import services
from familienkarte.city import load_city
from familienkarte.db import Tx
from familienkarte.runtime import Runtime
from familienkarte.web.problems import BAD_REQUEST

MAX_AGE = 300
PUBLIC_HEADERS = [
    ResponseHeader(name="Access-Control-Allow-Origin", value="*", description="Readable from any site."),
    ResponseHeader(
        name="Cache-Control", value=f"public, max-age={MAX_AGE}", description="Cacheable for a few minutes."
    ),
]
GEOJSON = "application/geo+json"
BENEFITS_PATH = "/api/v1/benefits"


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem, media_type="application/problem+json", description=description, generate_examples=False
    )


class TextRead(msgspec.Struct, kw_only=True):
    """A partner's text in the reader's language, or in German when there is none in theirs."""

    text: str
    language: Annotated[str, msgspec.Meta(description="The language the text is in.", examples=["de"])]
    fallback: Annotated[
        bool, msgspec.Meta(description="True when the text is not in the language asked for (shown in German).")
    ]

    @classmethod
    def of(cls, text: LocalText) -> TextRead:
        return cls(text=text.text, language=text.language, fallback=text.fallback)


class LocationRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    address: Annotated[str, msgspec.Meta(examples=["Riehler Straße 173, 50735"])]
    district: str | None


class BenefitRead(msgspec.Struct, kw_only=True):
    """A published benefit as families see it, texts in the reader's language (`Accept-Language` or `?lang=`)."""

    id: uuid.UUID
    url: Annotated[str, msgspec.Meta(description="The benefit's page.")]
    partner_id: uuid.UUID
    partner_name: str
    partner_url: Annotated[str, msgspec.Meta(description="The partner's page.")]
    category: Annotated[str, msgspec.Meta(description="A category code.", examples=["culture"])]
    category_label: str
    kind: Annotated[
        str,
        msgspec.Meta(
            description="`percent_off`, `amount_off`, `free_entry`, `special_price`, `two_for_one`, `voucher` or "
            "`other`."
        ),
    ]
    offer: Annotated[str, msgspec.Meta(description="The offer in a few words.", examples=["20 % Rabatt"])]
    title: TextRead
    description: TextRead
    conditions: TextRead
    who: Annotated[list[str], msgspec.Meta(description="Who may use it, in sentences.")]
    when: Annotated[list[str], msgspec.Meta(description="Weekdays and dates, in sentences.")]
    limit: Annotated[str | None, msgspec.Meta(description="How often one card may use it.")] = None
    locations: list[LocationRead]
    distance_m: Annotated[
        int | None,
        msgspec.Meta(description="With `sort=distance`: metres from the position to the nearest location."),
    ] = None

    @classmethod
    def of(cls, card: BenefitCard, distance_m: int | None = None) -> BenefitRead:
        return cls(
            id=card.id or uuid.UUID(int=0),
            url=f"/benefits/{card.id}",
            partner_id=card.partner_id,
            partner_name=card.partner_name,
            partner_url=f"/partners/{card.partner_id}",
            category=card.category,
            category_label=card.category_label,
            kind=card.kind,
            offer=card.offer,
            title=TextRead.of(card.title),
            description=TextRead.of(card.description),
            conditions=TextRead.of(card.conditions),
            who=list(card.who),
            when=list(card.when),
            limit=card.limit,
            locations=[
                LocationRead(id=line.id, name=line.name, address=line.address, district=line.district)
                for line in card.locations
            ],
            distance_m=distance_m,
        )


class PageLinks(msgspec.Struct, kw_only=True):
    self: str
    next: Annotated[str | None, msgspec.Meta(description="The next page with the same filters; null on the last.")]
    prev: Annotated[str | None, msgspec.Meta(description="The previous page; null on the first.")]


class BenefitList(msgspec.Struct, kw_only=True):
    """One page of the catalogue."""

    items: list[BenefitRead]
    total: Annotated[int, msgspec.Meta(description="How many benefits match, on all pages.")]
    page: int
    per_page: int
    links: PageLinks

    @classmethod
    def of(cls, result: services.CataloguePage) -> BenefitList:
        query = result.query
        return cls(
            items=[BenefitRead.of(card, result.distances_m.get(card.id) if card.id else None) for card in result.items],
            total=result.total,
            page=query.page,
            per_page=query.per_page,
            links=PageLinks(
                self=query.url(BENEFITS_PATH),
                next=query.url(BENEFITS_PATH, query.page + 1) if result.has_next else None,
                prev=query.url(BENEFITS_PATH, query.page - 1) if result.has_prev else None,
            ),
        )


def _param(description: str, example: str | None = None) -> Any:
    examples = [Example(value=example)] if example is not None else None
    return QueryParameter(description=description, examples=examples, max_length=200)


BAD_QUERY = {
    400: BAD_REQUEST,
    422: _problem(
        "A parameter was refused (`invalid_input`); `errors` names each one (`field`: the parameter) with a message."
    ),
}


class CatalogueApi(Controller):
    path = "/api/v1"
    tags = ["catalogue"]
    opt = PUBLIC_OPT
    response_headers = PUBLIC_HEADERS

    @get(
        "/benefits",
        summary="Search the benefits",
        description="The published benefits of approved partners, filtered and sorted like the catalogue page "
        "(`/benefits` takes the same parameters). Texts are in the reader's language (`Accept-Language` or "
        "`?lang=`), in German where a partner wrote none in it (`fallback`). Empty parameters mean any. "
        f"Cacheable for {MAX_AGE} seconds. Example: `/api/v1/benefits?category=culture&age=6&sort=name`.",
        responses=BAD_QUERY,
    )
    async def list_benefits(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        category: Annotated[str | None, _param("A category code (`culture`, `sport`, ...).", "culture")] = None,
        district: Annotated[str | None, _param("A district of the city, by name.", "Ehrenfeld")] = None,
        kind: Annotated[
            str | None, _param("A kind of benefit (`free_entry`, `percent_off`, ...).", "free_entry")
        ] = None,
        age: Annotated[
            str | None, _param("0 to 26: benefits for a child of this age (no age range, or the age in it).", "6")
        ] = None,
        q: Annotated[
            str | None, _param("Words to find in titles and descriptions (reader's language and German).", "zoo")
        ] = None,
        sort: Annotated[
            str | None, _param("`newest` (default), `name`, or `distance` (needs `lat` and `lon`).", "name")
        ] = None,
        lat: Annotated[str | None, _param("Latitude of the reader's position (WGS 84), with `lon`.", "50.9375")] = None,
        lon: Annotated[str | None, _param("Longitude of the reader's position (WGS 84), with `lat`.", "6.9603")] = None,
        page: Annotated[str | None, _param("The page, from 1.", "1")] = None,
        per_page: Annotated[
            str | None, _param(f"Benefits per page, 1 to {services.MAX_PER_PAGE} (default 20).", "20")
        ] = None,
    ) -> BenefitList:
        city = load_city(runtime.settings.city)
        params = {
            "category": category,
            "district": district,
            "kind": kind,
            "age": age,
            "q": q,
            "sort": sort,
            "lat": lat,
            "lon": lon,
            "page": page,
            "per_page": per_page,
        }
        locale, today = i18n.current_locale(), city.today()
        result = await tx.read(
            lambda s: services.search_benefits(
                s, services.read_query(params, districts=city.districts), locale=locale, today=today
            )
        )
        return BenefitList.of(result)

    @get(
        "/benefits/{benefit_id:uuid}",
        summary="One benefit",
        description="A published benefit of an approved partner; any other answers 404.",
        responses={400: BAD_REQUEST, 404: _problem("No such benefit, or it is not published (`not_found`).")},
    )
    async def get_benefit(
        self, benefit_id: FromPath[uuid.UUID], tx: NamedDependency[Tx], runtime: NamedDependency[Runtime]
    ) -> BenefitRead:
        city = load_city(runtime.settings.city)
        locale, today = i18n.current_locale(), city.today()
        card = await tx.read(lambda s: services.benefit_detail(s, benefit_id, locale=locale, today=today))
        return BenefitRead.of(card)

    @get(
        "/partners.geojson",
        media_type=GEOJSON,
        summary="Partner locations (GeoJSON, open data)",
        description="Every active location with coordinates of an approved partner as a GeoJSON FeatureCollection "
        "(RFC 7946; coordinates are longitude, latitude). Properties: `partner_id`, `partner_name`, `location_id`, "
        "`location_name`, `category`, `district`, `address` (and its parts), `opening_hours` (weekday code to "
        '`[["HH:MM", "HH:MM"], ...]`; a missing day is closed), `hours_note`, `accessibility` (feature codes), '
        "`accessibility_note` (texts per language), `benefits` (visible benefits at this location), "
        "`partner_benefits` (of the partner) and `url` (the partner's page). No personal data.",
    )
    async def partners_geojson(
        self, tx: NamedDependency[Tx], runtime: NamedDependency[Runtime]
    ) -> Response[dict[str, Any]]:
        city = load_city(runtime.settings.city)
        today, base_url = city.today(), runtime.settings.base_url.rstrip("/")
        body = await tx.read(lambda s: services.partners_geojson_encoded(s, today=today, base_url=base_url))
        return _encoded(body, GEOJSON)

    @get(
        "/open-data/benefits.json",
        summary="All benefits (open data)",
        description="Every published benefit of an approved partner with its structured fields and its texts in "
        "every language the partner wrote (`title`, `description`, `conditions`: language code to text), with "
        "`partner_id` and `location_ids` linking to `partners.geojson`. `value` is a percentage for `percent_off` "
        "and cents for `amount_off` and `special_price`. No personal data.",
    )
    async def benefits_open_data(
        self, tx: NamedDependency[Tx], runtime: NamedDependency[Runtime]
    ) -> Response[dict[str, Any]]:
        city = load_city(runtime.settings.city)
        today, base_url = city.today(), runtime.settings.base_url.rstrip("/")
        body = await tx.read(lambda s: services.benefits_open_data_encoded(s, today=today, base_url=base_url))
        return _encoded(body, MediaType.JSON)


def _encoded(body: bytes, media_type: str) -> Response[dict[str, Any]]:
    """An open data file already encoded as JSON (and remembered so): a Response sends bytes as they are, while the
    handler's annotation keeps describing the object in the API's schema."""
    return Response(cast(dict[str, Any], body), media_type=media_type)


ROUTES: list[Any] = [CatalogueApi]
