"""`GET /`: the API root, GitHub's index of URL templates."""

from mock_github.shapes.base import JsonDict

_SEARCH = "{&page,per_page,sort,order}"
_REPOS = "{?type,page,per_page,sort}"


def root_links(api: str, web: str) -> JsonDict:
    return {
        "current_user_url": f"{api}/user",
        "current_user_authorizations_html_url": (
            f"{web}/settings/connections/applications{{/client_id}}"
        ),
        "authorizations_url": f"{api}/authorizations",
        "code_search_url": f"{api}/search/code?q={{query}}{_SEARCH}",
        "commit_search_url": f"{api}/search/commits?q={{query}}{_SEARCH}",
        "emails_url": f"{api}/user/emails",
        "emojis_url": f"{api}/emojis",
        "events_url": f"{api}/events",
        "feeds_url": f"{api}/feeds",
        "followers_url": f"{api}/user/followers",
        "following_url": f"{api}/user/following{{/target}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "issue_search_url": f"{api}/search/issues?q={{query}}{_SEARCH}",
        "issues_url": f"{api}/issues",
        "keys_url": f"{api}/user/keys",
        "label_search_url": (
            f"{api}/search/labels?q={{query}}&repository_id={{repository_id}}{{&page,per_page}}"
        ),
        "notifications_url": f"{api}/notifications",
        "organization_url": f"{api}/orgs/{{org}}",
        "organization_repositories_url": f"{api}/orgs/{{org}}/repos{_REPOS}",
        "organization_teams_url": f"{api}/orgs/{{org}}/teams",
        "public_gists_url": f"{api}/gists/public",
        "rate_limit_url": f"{api}/rate_limit",
        "repository_url": f"{api}/repos/{{owner}}/{{repo}}",
        "repository_search_url": f"{api}/search/repositories?q={{query}}{_SEARCH}",
        "current_user_repositories_url": f"{api}/user/repos{_REPOS}",
        "starred_url": f"{api}/user/starred{{/owner}}{{/repo}}",
        "starred_gists_url": f"{api}/gists/starred",
        "topic_search_url": f"{api}/search/topics?q={{query}}{{&page,per_page}}",
        "user_url": f"{api}/users/{{user}}",
        "user_organizations_url": f"{api}/user/orgs",
        "user_repositories_url": f"{api}/users/{{user}}/repos{_REPOS}",
        "user_search_url": f"{api}/search/users?q={{query}}{_SEARCH}",
    }
